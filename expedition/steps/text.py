"""`text`: what free-text notes say — personal data redacted first, then the words and phrases that
distinguish outcome groups, topics and their prevalence by group, and document lengths."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.pii import KINDS
from expedition.steps import Step, StepContext, StepParams, require_columns
from expedition.steps._columns import POSITIVE, classify_columns, resolve_text_columns  # noqa: F401
from expedition.steps._plot import PALETTE, new_figure, small_multiples, to_figure


class TextParams(StepParams):
    text: list[str] | None = Field(
        None,
        description="free-text columns (joined into one document per row); default: the columns "
        "the data contract marks as text, else those that look like free text",
    )
    outcome: str | None = Field(
        None,
        description="a column whose groups the terms should distinguish (e.g. the outcome); "
        "default: the contract's target, if any",
    )
    outcome_value: str | None = Field(
        None, description="compare this value of the outcome with all the others (default: every group)"
    )
    terms: int = Field(15, ge=3, le=50, description="distinguishing terms listed per group")
    topics: int = Field(6, ge=0, le=20, description="topics to find with NMF (0: none)")
    ngrams: int = Field(2, ge=1, le=3, description="longest phrase counted, in words")
    max_terms: int = Field(5000, ge=50, le=100_000, description="vocabulary size (the most frequent terms)")
    min_docs: int | None = Field(
        None,
        ge=1,
        description="a term must occur in at least this many documents (never fewer than the "
        "disclosure threshold, which is the default)",
    )
    max_groups: int = Field(12, ge=2, le=50, description="most outcome groups compared")
    cv_folds: int = Field(
        5, ge=0, le=10, description="folds for the text-only classifier's cross-validated AUC (0: skip)"
    )


class Text(Step):
    """Free-text analysis: redaction, distinguishing terms, topics and document lengths.

    Personal data is removed from every note first (UK postcodes, NHS and National Insurance
    numbers, phone numbers, e-mail addresses, dates of birth and names in context such as
    "Ms Smith" or "called Jamie"), with the `expedition.pii` patterns that guard the findings
    pack; a redacted span becomes a token such as redacted_phone. Words and phrases of up to
    `ngrams` words are then counted (English stop words dropped, negations such as "no" and "not"
    kept), keeping only terms found in at least as many documents as the disclosure threshold.
    For each outcome group, the terms found in a larger share of its documents than of the
    others' are ranked by the z-statistic of their log odds ratio (0.5 added to every cell), with
    95% confidence intervals and Benjamini–Hochberg q-values across all terms. Topics come from
    non-negative matrix factorisation of the TF-IDF matrix; each document is assigned its
    dominant topic and topic prevalence is compared between groups. When the outcome has two
    groups, a logistic regression on the TF-IDF terms alone gives a cross-validated AUC: how much
    the text by itself says about the outcome. No note, sentence or term rarer than the
    threshold appears in the finding.
    """

    name = "text"
    summary = "Free text: redact personal data, then distinguishing terms, topics and lengths."
    version = "1"
    Params = TextParams

    def run(self, frame: Any, params: TextParams, ctx: StepContext) -> Finding:
        import polars as pl

        from expedition.steps._models import joined_text, redact_series

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        text_cols = resolve_text_columns(data, params.text, ctx, step=self.name)
        outcome = params.outcome
        if outcome is None:
            targets = ctx.columns_with_role("target")
            outcome = targets[0] if len(targets) == 1 else None
        require_columns(data.columns, [outcome], param="outcome", step=self.name)
        min_docs = max(params.min_docs or ctx.min_count, ctx.min_count)
        caveats: list[str] = []
        if params.min_docs is not None and params.min_docs < ctx.min_count:
            caveats.append(
                f"min_docs was raised from {params.min_docs} to the disclosure threshold of "
                f"{ctx.min_count}: rarer terms are never published."
            )

        ctx.report(0.05, "redacting personal data")
        raw = joined_text(data, text_cols)
        present = raw.str.strip_chars().str.len_chars() > 0
        if int(present.sum()) == 0:
            raise StepError(
                f"step 'text': the text column(s) {', '.join(text_cols)} are empty in every row",
                "check the delivery (was the free text exported?) or name other columns with 'text'",
            )
        docs, redacted = redact_series(raw)
        groups, group_label = outcome_groups(data, outcome, params.outcome_value, params.max_groups, caveats)
        keep = present & groups.is_not_null()
        dropped_empty = data.height - int(present.sum())
        if dropped_empty:
            caveats.append(
                f"{_count(dropped_empty, ctx.min_count)} records have no text and are left out."
            )
        missing_group = int((present & groups.is_null()).sum())
        if missing_group:
            caveats.append(
                f"{_count(missing_group, ctx.min_count)} records with no value for {outcome} are left out."
            )
        docs = docs.filter(keep)
        groups = groups.filter(keep)
        n_docs = docs.len()
        if n_docs < ctx.min_count:
            raise StepError(
                f"step 'text': only {n_docs} documents have text, fewer than the disclosure "
                f"threshold of {ctx.min_count}",
                "nothing about so few documents can be published; use more data",
            )

        tables: dict[str, Table] = {}
        figures: dict[str, Figure] = {}
        metrics: dict[str, float] = {"documents": float(n_docs)}
        headlines: list[str] = []
        redacted_any = int(sum(redacted.values()))
        label_names = [KINDS.get(k, k) for k in redacted]

        # redaction ------------------------------------------------------------------------
        red = pl.DataFrame(
            {
                "kind": [KINDS.get(k, k) for k in redacted],
                "documents": list(redacted.values()),
            },
            schema={"kind": pl.String, "documents": pl.Int64},
        ).with_columns((pl.col("documents") / max(int(present.sum()), 1)).alias("share"))
        tables["redactions"] = Table(
            red,
            {"kind": "label", "documents": "count", "share": "rate"},
            title="Personal data redacted before analysis",
            description="Documents in which each kind of personal data was found and removed.",
            denominators={"share": "documents"},
        )
        what = f" ({', '.join(label_names)})" if label_names else ""
        headlines.append(
            f"{n_docs:,} documents from {', '.join(text_cols)} were analysed; personal data was "
            f"found and removed first{what}." if redacted_any else
            f"{n_docs:,} documents from {', '.join(text_cols)} were analysed; the redaction "
            "patterns found no personal data in them."
        )

        # lengths ---------------------------------------------------------------------------
        ctx.report(0.15, "document lengths")
        words = docs.str.count_matches(r"\S+").cast(pl.Float64)
        work = pl.DataFrame({"group": groups, "words": words})
        lengths = (
            work.group_by("group")
            .agg(
                pl.len().cast(pl.Int64).alias("documents"),
                pl.col("words").mean().alias("mean_words"),
                pl.col("words").quantile(0.1, "linear").alias("p10_words"),
                pl.col("words").median().alias("median_words"),
                pl.col("words").quantile(0.9, "linear").alias("p90_words"),
            )
            .sort("group")
        )
        tables["lengths"] = Table(
            lengths,
            {
                "group": "label",
                "documents": "count",
                "mean_words": "statistic",
                "p10_words": "statistic",
                "median_words": "statistic",
                "p90_words": "statistic",
            },
            title="Document length in words, by group",
            denominators={c: "documents" for c in ("mean_words", "p10_words", "median_words", "p90_words")},
        )
        metrics["median_words"] = float(words.median() or 0.0)

        # terms -----------------------------------------------------------------------------
        ctx.report(0.3, "counting terms")
        counts, vocabulary = count_terms(docs.to_list(), min_docs, params.max_terms, params.ngrams)
        metrics["vocabulary"] = float(len(vocabulary))
        group_names = sorted(groups.unique().to_list())
        group_arr = groups.to_numpy()
        if not vocabulary:
            caveats.append(
                f"No word or phrase occurs in {min_docs} or more documents, so no terms or topics "
                "can be published."
            )
        elif len(group_names) >= 2:
            terms = distinguishing_terms(counts, vocabulary, group_arr, group_names, params.terms, ctx.min_count)
            tables["terms"] = Table(
                terms,
                {
                    "group": "label",
                    "term": "label",
                    "docs": "count",
                    "share": "rate",
                    "other_docs": "count",
                    "other_share": "rate",
                    "odds_ratio": "statistic",
                    "ci_low": "statistic",
                    "ci_high": "statistic",
                    "q_value": "statistic",
                },
                title=f"Terms that distinguish each group of {group_label}",
                description="For each group, the terms found in a larger share of its documents "
                "than of the other documents, strongest first: documents with the term in the "
                "group and elsewhere, the odds ratio with its 95% confidence interval, and the "
                "Benjamini–Hochberg q-value across every term.",
                denominators={
                    "share": "docs",
                    "other_share": "other_docs",
                    "odds_ratio": ["docs", "other_docs"],
                    "ci_low": ["docs", "other_docs"],
                    "ci_high": ["docs", "other_docs"],
                    "q_value": ["docs", "other_docs"],
                },
            )
            safe = safe_table(tables["terms"], ctx.disclosure).frame
            figures["terms"] = _draw_terms(safe, group_names, group_label)
            headlines.extend(_term_headlines(safe, group_names, group_label))
        else:
            common = common_terms(counts, vocabulary, params.terms)
            tables["terms"] = Table(
                common,
                {"term": "label", "docs": "count", "share": "rate"},
                title="The most common terms",
                denominators={"share": "docs"},
            )
            top = ", ".join(f"'{t}'" for t in common["term"].head(5).to_list())
            headlines.append(f"The most common terms are {top}.")

        # topics ----------------------------------------------------------------------------
        if vocabulary and params.topics:
            ctx.report(0.55, "finding topics")
            topic_table, prevalence, top_topic = find_topics(
                counts, vocabulary, group_arr, group_names, params.topics, ctx.seed
            )
            if topic_table is not None:
                tables["topics"] = Table(
                    topic_table,
                    {"topic": "label", "top_terms": "label", "docs": "count", "share": "rate"},
                    title="Topics (non-negative matrix factorisation)",
                    description="Each topic is named by its most heavily weighted terms; documents "
                    "are counted under their dominant topic.",
                    denominators={"share": "docs"},
                )
                tables["topic_prevalence"] = Table(
                    prevalence,
                    {"group": "label", "topic": "label", "docs": "count", "share": "rate"},
                    title=f"Topic prevalence by group of {group_label}",
                    denominators={"share": "docs"},
                )
                safe = safe_table(tables["topic_prevalence"], ctx.disclosure).frame
                figures["topic_prevalence"] = _draw_topics(safe, group_names, group_label)
                if top_topic:
                    headlines.append(top_topic)
                caveats.append(
                    "Topics are patterns of co-occurring words found by a statistical model; their "
                    "names are their top terms, not a reading of the notes, and a different number "
                    "of topics would divide the notes differently."
                )

        # text-only classifier ------------------------------------------------------------------
        if vocabulary and len(group_names) == 2 and params.cv_folds >= 2:
            ctx.report(0.8, "text-only classifier")
            positive = _positive_group(group_names, params.outcome_value)
            y = (group_arr == positive).astype(int)
            auc = text_only_auc(counts, y, params.cv_folds, ctx.seed, ctx.min_count)
            if auc is not None:
                metrics["text_only_auc"] = auc
                headlines.append(
                    f"The text alone separates {group_label} = {positive} from the rest with a "
                    f"cross-validated AUC of {auc:.2f} (0.5 is chance, 1 is perfect)."
                )

        caveats.extend(
            [
                "Redaction uses patterns: it finds names only in context (after a title such as "
                "'Ms' or words such as 'called'); a bare name elsewhere in a note is not found. "
                "Only counts and terms are published, never the notes.",
                f"Terms found in fewer than {min_docs} documents are not counted or shown.",
                "A term that distinguishes a group describes how notes were written, not why the "
                "outcome happened; recording practice differs between teams and over time.",
            ]
        )
        # the finding holds what the gate would publish, so the figures drawn from it survive
        tables = {name: safe_table(t, ctx.disclosure) for name, t in tables.items()}
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="What the free text says",
            headlines=headlines,
            method=_method(self),
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- helpers


def _method(step: Step) -> str:
    doc = (step.__doc__ or "").split("\n\n", 1)
    return " ".join(doc[1].split()) if len(doc) > 1 else ""


def _count(n: int, min_count: int) -> str:
    """A count for a sentence, never below the disclosure threshold."""
    return f"fewer than {min_count}" if 0 < n < min_count else f"{n:,}"


def outcome_groups(
    data: Any, outcome: str | None, value: str | None, max_groups: int, caveats: list[str]
) -> tuple[Any, str]:
    """A string series naming each record's group (null where the outcome is missing)."""
    import polars as pl

    if outcome is None:
        return pl.Series("group", ["all documents"] * data.height, dtype=pl.String), "documents"
    series = data[outcome].cast(pl.String)
    values = series.drop_nulls().unique().sort().to_list()
    if value is not None:
        if value not in values:
            raise StepError(
                f"step 'text': outcome_value {value!r} does not occur in column {outcome!r}",
                f"the values are: {', '.join(values[:20])}",
            )
        if len(values) > 2:
            other = f"not {value}"
            series = pl.select(
                pl.when(series.is_null()).then(None).when(series == value).then(pl.lit(value)).otherwise(pl.lit(other))
            ).to_series()
    elif len(values) > max_groups:
        raise StepError(
            f"step 'text': {outcome!r} has {len(values)} values, more than max_groups ({max_groups})",
            "choose a column with fewer groups, set outcome_value to compare one value with the "
            "rest, or raise max_groups",
        )
    if len(values) < 2:
        caveats.append(f"{outcome} has a single value, so no groups are compared.")
    return series.alias("group"), outcome


def _positive_group(groups: list[str], value: str | None) -> str:
    if value is not None and value in groups:
        return value
    for g in groups:
        if g.lower() in POSITIVE:
            return g
    return groups[-1]


def count_terms(docs: list[str], min_docs: int, max_terms: int, ngrams: int) -> tuple[Any, list[str]]:
    """A documents × terms count matrix over terms found in at least *min_docs* documents."""
    from expedition.steps._models import term_vectorizer

    vectorizer = term_vectorizer(min_docs=min_docs, max_terms=max_terms, ngrams=ngrams, tfidf=False)
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # "After pruning, no terms remain" / "empty vocabulary"
        return None, []
    return counts.tocsr(), list(vectorizer.get_feature_names_out())


def distinguishing_terms(
    counts: Any, vocabulary: list[str], groups: Any, names: list[str], top: int, min_count: int
) -> Any:
    """Each group against the rest: terms more common in the group, by log odds ratio z."""
    import numpy as np
    import polars as pl
    from scipy.stats import norm
    from statsmodels.stats.multitest import multipletests

    present = (counts > 0).astype(np.int64).tocsc()
    total_docs = np.asarray(present.sum(axis=0)).ravel()
    vocab = np.asarray(vocabulary, dtype=object)
    rows = []
    for name in names:
        member = groups == name
        size, rest = int(member.sum()), int((~member).sum())
        if size == 0 or rest == 0:
            continue
        a = np.asarray(present[member].sum(axis=0)).ravel().astype(float)
        c = total_docs - a
        b, d = size - a, rest - c
        log_or = np.log((a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5)))
        se = np.sqrt(1 / (a + 0.5) + 1 / (b + 0.5) + 1 / (c + 0.5) + 1 / (d + 0.5))
        z = log_or / se
        p = 2 * norm.sf(np.abs(z))
        q = multipletests(p, method="fdr_bh")[1]
        publishable = ((a == 0) | (a >= min_count)) & ((c == 0) | (c >= min_count)) & (log_or > 0)
        idx = np.flatnonzero(publishable)
        idx = idx[np.lexsort((vocab[idx], -z[idx]))][:top]
        for i in idx:
            rows.append(
                {
                    "group": name,
                    "term": str(vocab[i]),
                    "docs": int(a[i]),
                    "share": a[i] / size,
                    "other_docs": int(c[i]),
                    "other_share": c[i] / rest,
                    "odds_ratio": float(np.exp(log_or[i])),
                    "ci_low": float(np.exp(log_or[i] - 1.959964 * se[i])),
                    "ci_high": float(np.exp(log_or[i] + 1.959964 * se[i])),
                    "q_value": float(q[i]),
                }
            )
    schema = {
        "group": pl.String,
        "term": pl.String,
        "docs": pl.Int64,
        "share": pl.Float64,
        "other_docs": pl.Int64,
        "other_share": pl.Float64,
        "odds_ratio": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "q_value": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def common_terms(counts: Any, vocabulary: list[str], top: int) -> Any:
    import numpy as np
    import polars as pl

    docs = np.asarray((counts > 0).sum(axis=0)).ravel()
    frame = pl.DataFrame({"term": vocabulary, "docs": docs.astype(np.int64)})
    return (
        frame.sort(["docs", "term"], descending=[True, False])
        .head(top)
        .with_columns((pl.col("docs") / counts.shape[0]).alias("share"))
    )


def find_topics(
    counts: Any, vocabulary: list[str], groups: Any, names: list[str], k: int, seed: int
) -> tuple[Any, Any, str | None]:
    """NMF topics of the TF-IDF matrix; each document's dominant topic, counted by group."""
    import warnings

    import numpy as np
    import polars as pl
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfTransformer

    k = min(k, len(vocabulary) - 1, counts.shape[0] - 1)
    if k < 2:
        return None, None, None
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: the topics are descriptive
        nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=300)
        weights = nmf.fit_transform(tfidf)
    vocab = np.asarray(vocabulary, dtype=object)
    labels = []
    for component in nmf.components_:
        ordered = [str(vocab[i]) for i in np.lexsort((vocab, -component))[:20]]
        labels.append(", ".join(distinct_terms(ordered, 4)))
    empty = weights.sum(axis=1) <= 0
    dominant = np.where(empty, -1, weights.argmax(axis=1))
    names_by_index = {i: f"topic {i + 1}" for i in range(k)} | {-1: "no topic"}
    topic_of = np.array([names_by_index[i] for i in dominant], dtype=object)
    work = pl.DataFrame({"group": groups, "topic": topic_of.astype(str)})
    order = [f"topic {i + 1}" for i in range(k)] + (["no topic"] if empty.any() else [])
    overall = work.group_by("topic").agg(pl.len().cast(pl.Int64).alias("docs"))
    topic_table = (
        pl.DataFrame({"topic": order, "top_terms": labels + (["(no counted terms)"] if empty.any() else [])})
        .join(overall, on="topic", how="left")
        .with_columns(pl.col("docs").fill_null(0))
        .with_columns((pl.col("docs") / len(groups)).alias("share"))
    )
    grid = pl.DataFrame({"group": [g for g in names for _ in order], "topic": [t for _ in names for t in order]})
    prevalence = (
        grid.join(work.group_by("group", "topic").agg(pl.len().cast(pl.Int64).alias("docs")), on=["group", "topic"], how="left")
        .with_columns(pl.col("docs").fill_null(0))
        .with_columns((pl.col("docs") / pl.col("docs").sum().over("group")).alias("share"))
    )
    biggest = topic_table.filter(pl.col("topic") != "no topic").sort(["docs", "topic"], descending=[True, False]).row(0, named=True)
    headline = (
        f"The notes fall into {k} topics; the most common ('{biggest['top_terms']}') is the main "
        f"topic of {biggest['share']:.0%} of documents."
    )
    return topic_table, prevalence, headline


def text_only_auc(counts: Any, y: Any, folds: int, seed: int, min_count: int) -> float | None:
    """Cross-validated ROC AUC of a logistic regression on TF-IDF terms alone."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    positives = int(np.sum(y))
    if min(positives, len(y) - positives) < max(folds, min_count):
        return None
    model = make_pipeline(TfidfTransformer(sublinear_tf=True), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(model, counts, y, cv=cv, scoring="roc_auc")
    return float(np.mean(scores))


def distinct_terms(terms: list[str], k: int) -> list[str]:
    """The first *k* terms that each say something new: a phrase replaces the words it holds
    ("domestic abuse" replaces "abuse" and "domestic"), and a word already inside a chosen
    phrase is skipped."""
    chosen: list[str] = []
    for term in terms:
        words = set(term.split())
        if any(words <= set(c.split()) for c in chosen):
            continue
        covered = [i for i, c in enumerate(chosen) if set(c.split()) <= words]
        if covered:
            chosen[covered[0]] = term
            chosen = [c for i, c in enumerate(chosen) if i not in covered[1:]]
        else:
            chosen.append(term)
        if len(chosen) == k:
            break
    return chosen


def _term_headlines(terms: Any, names: list[str], label: str) -> list[str]:
    import polars as pl

    out = []
    for name in names[:4]:
        rows = terms.filter((pl.col("group") == name) & (pl.col("q_value") < 0.05))
        rows = [r for r in rows.iter_rows(named=True) if r["share"] is not None and r["other_share"] is not None]
        chosen = set(distinct_terms([r["term"] for r in rows], 3))
        rows = [r for r in rows if r["term"] in chosen]
        if not rows:
            continue
        parts = [
            f"'{r['term']}' ({r['share']:.0%} of its notes against {r['other_share']:.0%} of the others)"
            for r in rows
        ]
        out.append(f"Terms most typical of {label} = {name}: " + "; ".join(parts) + ".")
    return out


def _draw_terms(terms: Any, names: list[str], label: str) -> Figure:
    import numpy as np
    import polars as pl

    from matplotlib.ticker import FuncFormatter, NullFormatter

    shown = [n for n in names if terms.filter(pl.col("group") == n).height][:6]
    fig, axes = small_multiples(max(len(shown), 1), columns=2, panel=(4.2, 3.0))
    for i, (ax, name) in enumerate(zip(axes, shown)):
        part = terms.filter(pl.col("group") == name).head(10).reverse()
        y = np.arange(part.height)
        odds = part["odds_ratio"].to_numpy()
        low = part["ci_low"].to_numpy()
        high = part["ci_high"].to_numpy()
        ax.barh(y, odds - 1, left=1, color=PALETTE[i % len(PALETTE)], alpha=0.8)
        ax.errorbar(odds, y, xerr=[odds - low, high - odds], fmt="none", ecolor="#333333", lw=0.8)
        ax.set_yticks(y, part["term"].to_list())
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axvline(1, color="#333333", lw=0.8)
        ax.set_title(f"{label} = {name}")
        ax.set_xlabel("odds ratio (log scale)")
    return to_figure(
        fig,
        f"Terms that distinguish each group of {label}",
        alt="Bar charts of odds ratios with 95% intervals for the terms most typical of each group.",
        data="terms",
    )


def _draw_topics(prevalence: Any, names: list[str], label: str) -> Figure:
    import numpy as np
    import polars as pl

    topics = prevalence["topic"].unique(maintain_order=True).to_list()
    fig, ax = new_figure(7.0, 3.6)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(topics))
    for i, name in enumerate(names[:6]):
        part = prevalence.filter(pl.col("group") == name)
        share = [
            v if v is not None else 0.0
            for v in (part.filter(pl.col("topic") == t)["share"].to_list()[0] if part.filter(pl.col("topic") == t).height else None for t in topics)
        ]
        ax.bar(x + i * width, share, width, label=str(name), color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(x + width * (min(len(names), 6) - 1) / 2, topics, rotation=30, ha="right")
    ax.set_ylabel("share of the group's documents")
    ax.legend(title=label, frameon=False)
    return to_figure(
        fig,
        f"Topic prevalence by group of {label}",
        alt="Grouped bars: the share of each group's documents whose main topic is each topic.",
        data="topic_prevalence",
    )
