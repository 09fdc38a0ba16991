"""`text`: what free-text notes say — personal data redacted first, then the words and phrases that
distinguish outcome groups, topics and their prevalence by group, and document lengths."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from expedition.errors import StepError
from expedition.pii import KINDS
from expedition.steps import (
    RECORDED,
    Cell,
    Chart,
    Count,
    Finding,
    Items,
    Keys,
    Step,
    StepContext,
    StepParams,
    Table,
    Value,
    require_columns,
    say,
)
from expedition.steps._columns import POSITIVE, resolve_text_columns
from expedition.steps._plot import PALETTE, Drawing, drawing, mark_suppressed, new_figure, small_multiples
from expedition.steps._text import reword_finding


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
    sentiment: bool = Field(
        False,
        description="score each document's tone with VADER (a lexicon of English sentiment words) and "
        "compare the shares that read as negative, neutral and positive across groups, with 95% intervals "
        "(for consultation responses and complaints)",
    )


class Text(Step):
    """Free-text analysis: redaction, distinguishing terms, topics and document lengths.

    Personal data is removed from every note first (UK postcodes, NHS and National Insurance
    numbers, phone numbers, e-mail addresses, dates of birth and names in context such as
    "Ms Smith" or "called Jamie"), with the `expedition.pii` patterns that guard the findings
    pack; a redacted span becomes a token such as redacted_phone. Words and phrases of up to
    `ngrams` words are then counted (English stop words dropped, negations such as "no" and "not"
    kept), keeping only terms found in at least as many documents as the disclosure threshold.
    For each outcome group with at least that many documents, the terms found in a larger share
    of its documents than of the others' are ranked by the z-statistic of their log odds ratio
    (0.5 added to every cell), with 95% confidence intervals and Benjamini–Hochberg q-values
    across all terms; a term is listed only when the documents with and without it, in the group
    and outside it, are each none or at least the threshold. Topics come from non-negative
    matrix factorisation of the TF-IDF matrix: each document is counted under its dominant topic,
    and a topic's prevalence in a group is the mean share of the group's documents' topic weight
    that falls to it (the expected topic proportion, as in structural topic models), so a big
    topic keeps its count when a small group has only a few documents in it. When the outcome
    has two groups, a logistic regression on the TF-IDF terms alone gives a cross-validated AUC:
    how much the text by itself says about the outcome. No note, sentence or term rarer than the
    threshold appears in the finding.
    """

    name = "text"
    summary = "Free text: redact personal data, then distinguishing terms, topics and lengths."
    version = "3"
    Params = TextParams
    outputs = {
        "redactions": "documents in which each kind of personal data was found and removed",
        "lengths": "document length in words by group",
        "terms": "terms that distinguish each group (odds ratios, 95% CIs, q-values), or the most common terms",
        "topics": "NMF topics: top terms and documents whose main topic each is",
        "topic_prevalence": "each topic's expected share of each group's documents",
        "figure terms": "odds ratios of the distinguishing terms",
        "figure topic_prevalence": "topic prevalence by group",
        "sentiment": "with sentiment: true, the share of each group's documents that read as negative, "
        "neutral and positive (VADER), with 95% intervals",
        "sentiment_scores": "with sentiment: true, each group's mean VADER compound score with a 95% interval",
    }

    @classmethod
    def recode_columns(cls, params: TextParams, columns: list[str]) -> list[str]:
        """The outcome's groups are tabulated: rare ones are combined before the step runs."""
        return [params.outcome] if params.outcome and params.outcome in columns else []

    @classmethod
    def recode_keep(cls, params: TextParams) -> list[Any]:
        return [params.outcome_value] if params.outcome_value is not None else []

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
        caveats: list[Any] = []
        if params.min_docs is not None and params.min_docs < ctx.min_count:
            caveats.append(
                f"min_docs was raised from {params.min_docs} to the disclosure threshold of "
                f"{ctx.min_count}: rarer terms are never published."
            )

        ctx.report(0.05, "redacting personal data")
        raw = joined_text(data, text_cols)
        present = raw.str.strip_chars().str.len_chars() > 0
        n_present = int(present.sum())
        if n_present == 0:
            raise StepError(
                f"step 'text': the text column(s) {', '.join(text_cols)} are empty in every row",
                "check the delivery (was the free text exported?) or name other columns with 'text'",
            )
        # what the documents' counts count: records whose text is recorded (and, with an
        # outcome, whose outcome is recorded), so the gate links them to the same counts elsewhere
        text_var = text_cols[0] if len(text_cols) == 1 else " + ".join(text_cols)
        with_text = {text_var: RECORDED}
        groups, group_label = outcome_groups(data, outcome, params.outcome_value, params.max_groups, caveats)
        keep = present & groups.is_not_null()
        analysed = {**with_text, **({outcome: RECORDED} if outcome else {})}
        dropped_empty = data.height - n_present
        if dropped_empty:
            caveats.append(say(
                "{n} records have no text and are left out.",
                n=Count(dropped_empty, {text_var: None}),
                fallback="Some records have no text and are left out.",
            ))
        missing_group = int((present & groups.is_null()).sum())
        if missing_group:
            caveats.append(say(
                "{n} records with no value for {outcome} are left out.",
                n=Count(missing_group, {**with_text, outcome: None}), outcome=str(outcome),
                fallback=say("Some records with no value for {outcome} are left out.", outcome=str(outcome)),
            ))
        # only the documents analysed are redacted and counted, so every count here is of them
        docs, redacted = redact_series(raw.filter(keep))
        groups = groups.filter(keep)
        n_docs = docs.len()
        if n_docs < ctx.min_count:
            raise StepError(
                f"step 'text': only {n_docs} documents have text, fewer than the disclosure "
                f"threshold of {ctx.min_count}",
                "nothing about so few documents can be published; use more data",
            )

        tables: dict[str, Table] = {}
        figures: dict[str, Chart] = {}
        documents = Count(n_docs, analysed)
        metrics: dict[str, Any] = {"documents": documents}
        headlines: list[Any] = []
        group_keys = {"group": outcome}  # the group column holds the outcome's values
        if outcome is None:
            group_keys = {"group": None}

        # redaction ------------------------------------------------------------------------
        kinds = [KINDS.get(k, k) for k in redacted]
        red = pl.DataFrame(
            {"kind": kinds, "documents": list(redacted.values()), "of_documents": [n_docs] * len(kinds)},
            schema={"kind": pl.String, "documents": pl.Int64, "of_documents": pl.Int64},
        ).with_columns((pl.col("documents") / pl.col("of_documents")).alias("share"))
        tables["redactions"] = Table(
            red.select("kind", "documents", "share", "of_documents"),
            {"kind": "label", "documents": "count", "share": "rate", "of_documents": "count"},
            title="Personal data redacted before analysis",
            description="Documents in which each kind of personal data was found and removed, out "
            "of the documents analysed (a document can hold several kinds).",
            denominators={"share": ["documents", "of_documents"]},
            dimensions=[],  # the kinds overlap: their documents add up to no total
            # each row counts the documents in which its kind was found: "@" names the kind
            keys=Keys(variables={"kind": None}, subject="kind",
                      counts={"documents": {**analysed, "@": "found"}, "of_documents": analysed}),
        )
        cols = ", ".join(text_cols)
        if kinds:
            headlines.append(say(
                "{n} documents from {cols} were analysed; personal data was found and removed first ({kinds}).",
                n=documents, cols=cols, kinds=", ".join(kinds),
                fallback=say("Documents from {cols} were analysed; personal data was found and removed first ({kinds}).",
                             cols=cols, kinds=", ".join(kinds)),
            ))
        else:
            headlines.append(say(
                "{n} documents from {cols} were analysed; the redaction patterns found no personal data in them.",
                n=documents, cols=cols,
                fallback=say("Documents from {cols} were analysed; the redaction patterns found no personal "
                             "data in them.", cols=cols),
            ))

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
            dimensions=["group"],
            keys=Keys(variables=group_keys, counts={"documents": with_text}),
        )
        metrics["median_words"] = float(words.median() or 0.0)

        # sentiment ---------------------------------------------------------------------------
        if params.sentiment:
            ctx.report(0.2, "sentiment")
            tables.update(sentiment_tables(docs, groups, with_text, group_keys, text_var))
            headlines.extend(_sentiment_headlines(tables["sentiment"], group_label, outcome is not None))
            caveats.append(
                "Tone is scored by VADER, a list of English words rated for sentiment with rules for "
                "negation, intensity and capitals, built for short informal text: it misses sarcasm, "
                "domain words (a 'positive' test result) and context, and scores what was written, not "
                "how satisfied the writer is. Compare groups with it rather than reading one share alone."
            )

        # terms -----------------------------------------------------------------------------
        ctx.report(0.3, "counting terms")
        counts, vocabulary = count_terms(docs.to_list(), min_docs, params.max_terms, params.ngrams)
        metrics["vocabulary"] = float(len(vocabulary))
        group_names = sorted(groups.unique().to_list())
        group_arr = groups.to_numpy()
        sizes = {g: int((group_arr == g).sum()) for g in group_names}
        compared = [g for g in group_names if sizes[g] >= ctx.min_count]
        if len(group_names) >= 2 and len(compared) < len(group_names):
            caveats.append(
                f"Groups of {group_label} with fewer than {ctx.min_count} documents are counted but "
                "not compared: too few documents to say which terms are typical of them."
            )
        if not vocabulary:
            caveats.append(
                f"No word or phrase occurs in {min_docs} or more documents, so no terms or topics "
                "can be published."
            )
        elif len(group_names) >= 2:
            terms = distinguishing_terms(counts, vocabulary, group_arr, compared, params.terms, ctx.min_count)
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
                dimensions=[],  # terms overlap: their documents add up to no total
            )
            shown = [g for g in compared if terms.filter(pl.col("group") == g).height][:6]
            if shown:
                figures["terms"] = Chart(
                    f"Terms that distinguish each group of {group_label}",
                    "text.terms",
                    "terms",
                    alt="Bar charts of odds ratios with 95% intervals for the terms most typical of each group.",
                    options={"label": group_label, "groups": shown},
                )
            noun = ctx.subject[1] if tuple(ctx.subject) != ("record", "records") else "documents"
            headlines.extend(_term_headlines(terms, compared, group_label, noun))
        else:
            common = common_terms(counts, vocabulary, params.terms, ctx.min_count)
            tables["terms"] = Table(
                common,
                {"term": "label", "docs": "count", "share": "rate"},
                title="The most common terms",
                description="The terms found in the most documents, with their share of the documents.",
                denominators={"share": "docs"},
                dimensions=[],
            )
            top = common["term"].head(5).to_list()
            if top:
                headlines.append(say("The most common terms are {terms}.",
                                     terms=", ".join(f"'{t}'" for t in top)))

        # topics ----------------------------------------------------------------------------
        if vocabulary and params.topics:
            ctx.report(0.55, "finding topics")
            found = find_topics(counts, vocabulary, group_arr, group_names, params.topics, ctx.seed,
                                min_count=ctx.min_count)
            if found is not None:
                topic_table, prevalence, k = found
                tables["topics"] = Table(
                    topic_table,
                    {"topic": "label", "top_terms": "text", "docs": "count", "share": "rate"},
                    title="Topics (non-negative matrix factorisation)",
                    description="Each topic is named by its most heavily weighted terms; documents "
                    "are counted under their dominant topic.",
                    denominators={"share": "docs"},
                    dimensions=["topic"],
                )
                # the group sizes are published once, in the lengths table: a count repeated in
                # several tables is protected in each, which costs the other groups their counts
                tables["topic_prevalence"] = Table(
                    prevalence,
                    {"group": "label", "topic": "label", "prevalence": "statistic", "note": "text"},
                    title=f"Topic prevalence by group of {group_label}",
                    description="The mean share of a group's documents' topic weight that falls to "
                    "each topic (documents with no counted term left out). Groups with fewer "
                    "documents than the disclosure threshold are not described.",
                    dimensions=[],
                )
                figures["topic_prevalence"] = Chart(
                    f"Topic prevalence by group of {group_label}",
                    "text.topics",
                    "topic_prevalence",
                    alt="Grouped bars: each topic's expected share of each group's documents.",
                    options={"label": group_label, "groups": group_names[:6]},
                )
                headlines.extend(_topic_headlines(topic_table, prevalence, k, sizes, group_label, ctx.min_count))
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
                headlines.append(say(
                    "The text alone separates {label} = {positive} from the rest with a "
                    f"cross-validated AUC of {auc:.2f} (0.5 is chance, 1 is perfect).",
                    label=group_label, positive=str(positive),
                ))

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
        ctx.report(1.0, "done")
        # "notes" is the steps' word for one text; the expedition's subject (a message, a
        # report) replaces it, or the neutral "documents"
        noun = ctx.subject if tuple(ctx.subject) != ("record", "records") else ("document", "documents")
        return reword_finding(Finding(
            step=self.name,
            title="What the free text says",
            headlines=headlines,
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        ), noun, ("note", "notes"))


# --------------------------------------------------------------------------- helpers

#: VADER's own cut-offs on the compound score (Hutto and Gilbert, 2014)
TONES = ("negative", "neutral", "positive")


def tone_of(compound: float) -> str:
    return "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"


def sentiment_scores(docs: Any) -> Any:
    """VADER's compound score (-1 to 1) of each document."""
    import numpy as np
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    return np.array([analyser.polarity_scores(d or "")["compound"] for d in docs.to_list()], dtype=float)


def sentiment_tables(docs: Any, groups: Any, with_text: dict[str, Any], group_keys: dict[str, Any],
                     text_var: str) -> dict[str, Table]:
    """The share of each group's documents that read as negative, neutral and positive (Wilson
    95% intervals), and each group's mean compound score with a t interval."""
    import numpy as np
    import polars as pl
    from scipy import stats

    from expedition.steps._stats import wilson_interval

    compound = sentiment_scores(docs)
    work = pl.DataFrame({"group": groups, "compound": compound}).with_columns(
        pl.col("compound").map_elements(tone_of, return_dtype=pl.String).alias("tone"))
    sizes = work.group_by("group").len().rename({"len": "of_documents"})
    grid = sizes.join(pl.DataFrame({"tone": list(TONES)}), how="cross")
    counted = work.group_by("group", "tone").len().rename({"len": "documents"})
    long = (grid.join(counted, on=["group", "tone"], how="left")
            .with_columns(pl.col("documents").fill_null(0).cast(pl.Int64))
            .with_columns(pl.col("tone").replace_strict({t: i for i, t in enumerate(TONES)}).alias("_order"))
            .sort("group", "_order"))
    low, high = wilson_interval(long["documents"].to_numpy(), long["of_documents"].to_numpy())
    long = long.with_columns((pl.col("documents") / pl.col("of_documents")).alias("share"),
                             pl.Series("share_low", np.asarray(low, dtype=float)),
                             pl.Series("share_high", np.asarray(high, dtype=float)))
    tone_var = f"tone of {text_var} (VADER)"
    shares = Table(
        long.select("group", "tone", "documents", "share", "share_low", "share_high"),
        {"group": "label", "tone": "label", "documents": "count", "share": "rate",
         "share_low": "rate", "share_high": "rate"},
        title="Tone of the documents, by group",
        description="Documents whose VADER compound score is -0.05 or below (negative), 0.05 or above "
        "(positive) or between (neutral), as a share of the group's documents, with Wilson 95% intervals.",
        denominators={c: "documents" for c in ("share", "share_low", "share_high")},
        dimensions=["group", "tone"],
        keys=Keys(variables={**group_keys, "tone": tone_var}, counts={"documents": with_text}),
    )
    rows = []
    for (g,), part in work.group_by(["group"], maintain_order=False):
        values = part["compound"].to_numpy()
        mean = float(values.mean())
        half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))) \
            if len(values) > 1 else float("nan")
        rows.append({"group": g, "documents": len(values), "mean_compound": mean,
                     "ci_low": mean - half, "ci_high": mean + half})
    means = pl.DataFrame(rows, schema={"group": groups.dtype, "documents": pl.Int64, "mean_compound": pl.Float64,
                                       "ci_low": pl.Float64, "ci_high": pl.Float64}).sort("group")
    scores = Table(
        means,
        {"group": "label", "documents": "count", "mean_compound": "statistic", "ci_low": "statistic",
         "ci_high": "statistic"},
        title="Mean tone score, by group",
        description="The mean VADER compound score (-1 most negative, 1 most positive) of each group's "
        "documents, with a 95% t interval.",
        denominators={c: "documents" for c in ("mean_compound", "ci_low", "ci_high")},
        dimensions=["group"],
        keys=Keys(variables=group_keys, counts={"documents": with_text}),
    )
    return {"sentiment": shares, "sentiment_scores": scores}


def _sentiment_headlines(table: Table, label: str, grouped: bool) -> list[Any]:
    frame = table.frame
    negative = frame.filter(frame["tone"] == "negative").sort("share", descending=True)
    if negative.height == 0:
        return []
    top = negative.row(0, named=True)
    if not grouped or negative.height == 1:
        return [say("{share} of the documents read as negative (95% interval {low} to {high}).",
                    share=Cell("sentiment", "share", {"group": top["group"], "tone": "negative"}, ".0%"),
                    low=Cell("sentiment", "share_low", {"group": top["group"], "tone": "negative"}, ".0%"),
                    high=Cell("sentiment", "share_high", {"group": top["group"], "tone": "negative"}, ".0%"))]
    bottom = negative.row(negative.height - 1, named=True)
    return [say("Documents about {label} = {most} read as negative most often ({share}, 95% interval {low} to "
                "{high}), and those about {least} least often ({other}).",
                label=label, most=str(top["group"]), least=str(bottom["group"]),
                share=Cell("sentiment", "share", {"group": top["group"], "tone": "negative"}, ".0%"),
                low=Cell("sentiment", "share_low", {"group": top["group"], "tone": "negative"}, ".0%"),
                high=Cell("sentiment", "share_high", {"group": top["group"], "tone": "negative"}, ".0%"),
                other=Cell("sentiment", "share", {"group": bottom["group"], "tone": "negative"}, ".0%"))]


def outcome_groups(
    data: Any, outcome: str | None, value: str | None, max_groups: int, caveats: list[Any]
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


def _none_or_at_least(values: Any, min_count: int) -> Any:
    return (values == 0) | (values >= min_count)


def distinguishing_terms(
    counts: Any, vocabulary: list[str], groups: Any, names: list[str], top: int, min_count: int
) -> Any:
    """Each group against the rest: terms more common in the group, by log odds ratio z.

    A term is listed only when each cell of its 2×2 table — documents with and without it, in
    the group and outside it — is zero or at least *min_count*: the table's margins (the
    group's documents, all documents) are published, so every cell of it could be worked out.
    """
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
        publishable = (
            _none_or_at_least(a, min_count) & _none_or_at_least(b, min_count)
            & _none_or_at_least(c, min_count) & _none_or_at_least(d, min_count) & (log_or > 0)
        )
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


def common_terms(counts: Any, vocabulary: list[str], top: int, min_count: int = 1) -> Any:
    """The terms in the most documents; a term in all but a few documents is left out (the
    documents without it would be a count below *min_count*)."""
    import numpy as np
    import polars as pl

    n = counts.shape[0]
    docs = np.asarray((counts > 0).sum(axis=0)).ravel()
    frame = pl.DataFrame({"term": vocabulary, "docs": docs.astype(np.int64)})
    rest = pl.lit(n) - pl.col("docs")
    return (
        frame.filter((rest == 0) | (rest >= min_count))
        .sort(["docs", "term"], descending=[True, False])
        .head(top)
        .with_columns((pl.col("docs") / n).alias("share"))
    )


def find_topics(counts: Any, vocabulary: list[str], groups: Any, names: list[str], k: int, seed: int,
                *, min_count: int = 1):
    """NMF topics of the TF-IDF matrix: each topic's top terms and the documents whose dominant
    topic it is; and by group, each topic's prevalence (the mean of the documents' topic
    proportions, over the documents with any topic weight), left empty for a group of fewer
    than *min_count* documents (a mean of so few would describe them one by one). None when
    fewer than two topics fit."""
    import warnings

    import numpy as np
    import polars as pl
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfTransformer

    k = min(k, len(vocabulary) - 1, counts.shape[0] - 1)
    if k < 2:
        return None
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
    totals = weights.sum(axis=1)
    empty = totals <= 0
    dominant = np.where(empty, -1, weights.argmax(axis=1))
    names_by_index = {i: f"topic {i + 1}" for i in range(k)} | {-1: "no topic"}
    topic_of = np.array([names_by_index[i] for i in dominant], dtype=object)
    order = [f"topic {i + 1}" for i in range(k)] + (["no topic"] if empty.any() else [])
    overall = pl.DataFrame({"topic": topic_of.astype(str)}).group_by("topic").agg(pl.len().cast(pl.Int64).alias("docs"))
    topic_table = (
        pl.DataFrame({"topic": order, "top_terms": labels + (["(no counted terms)"] if empty.any() else [])})
        .join(overall, on="topic", how="left")
        .with_columns(pl.col("docs").fill_null(0))
        .with_columns((pl.col("docs") / len(groups)).alias("share"))
    )
    proportions = np.divide(weights, np.where(empty, 1.0, totals)[:, None])
    rows = []
    for g in names:
        member = groups == g
        weighted = member & ~empty
        small = int(member.sum()) < min_count
        means = proportions[weighted].mean(axis=0) if weighted.any() and not small else np.full(k, np.nan)
        note = f"too few documents to describe (fewer than {min_count})" if small else ""
        for i in range(k):
            rows.append({"group": g, "topic": f"topic {i + 1}", "prevalence": float(means[i]), "note": note})
    prevalence = pl.DataFrame(
        rows, schema={"group": pl.String, "topic": pl.String, "prevalence": pl.Float64, "note": pl.String}
    ).with_columns(pl.col("prevalence").fill_nan(None))
    return topic_table, prevalence, k


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


def _term_headlines(terms: Any, names: list[str], label: str, noun: str = "notes") -> list[Any]:
    """For up to four groups, its three most typical terms; each term's shares rest on its
    document counts, so a term whose counts are suppressed is left out of the sentence."""
    import polars as pl

    out = []
    for name in names[:4]:
        rows = list(terms.filter((pl.col("group") == name) & (pl.col("q_value") < 0.05)).iter_rows(named=True))
        chosen = set(distinct_terms([r["term"] for r in rows], 3))
        rows = [r for r in rows if r["term"] in chosen]
        if not rows:
            continue
        items = []
        for r in rows:
            where = {"group": name, "term": r["term"]}
            items.append(Value(
                f"'{r['term']}' ({r['share']:.0%} of its {noun} against {r['other_share']:.0%} of the others)",
                sources=(Cell("terms", "docs", where), Cell("terms", "other_docs", where)),
            ))
        out.append(say(
            "Terms most typical of {label} = {group}: {terms}.",
            label=label, group=str(name), terms=Items(tuple(items), "{n} more whose counts are suppressed"),
            fallback=say("Terms typical of {label} = {group} are in the terms table.", label=label, group=str(name)),
        ))
    return out


def _topic_headlines(topics: Any, prevalence: Any, k: int, sizes: dict[str, int], label: str,
                     min_count: int) -> list[Any]:
    import polars as pl

    out: list[Any] = []
    named = topics.filter(pl.col("topic") != "no topic").sort(["docs", "topic"], descending=[True, False])
    biggest = named.row(0, named=True)
    out.append(say(
        "The notes fall into {k} topics; the most common ('{terms}') is the main topic of {share} of documents.",
        k=str(k), terms=biggest["top_terms"], share=Cell("topics", "share", {"topic": biggest["topic"]}, ".0%"),
        fallback=say("The notes fall into {k} topics.", k=str(k)),
    ))
    compared = [g for g, n in sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
    if len(compared) >= 2 and label != "documents":
        a, b = compared[:2]
        wide = prevalence.pivot(on="group", index="topic", values="prevalence")
        if a in wide.columns and b in wide.columns:
            gaps = wide.select("topic", (pl.col(a) - pl.col(b)).abs().alias("gap")).drop_nulls()
            if gaps.height:
                topic = gaps.sort(["gap", "topic"], descending=[True, False])["topic"][0]
                terms = topics.filter(pl.col("topic") == topic)["top_terms"][0]
                out.append(say(
                    "Topic '{terms}' takes {pa} of the topic weight of {label} = {a} against {pb} of {label} = {b}.",
                    terms=terms, label=label, a=str(a), b=str(b),
                    pa=Cell("topic_prevalence", "prevalence", {"group": a, "topic": topic}, ".0%"),
                    pb=Cell("topic_prevalence", "prevalence", {"group": b, "topic": topic}, ".0%"),
                    fallback=say("Topic '{terms}' differs most in prevalence between {label} = {a} and {label} = {b}.",
                                 terms=terms, label=label, a=str(a), b=str(b)),
                ))
    return out


# --------------------------------------------------------------------------- drawings


@drawing("text.terms")
def draw_terms(d: Drawing) -> Any:
    """Odds ratios with 95% intervals of each group's most typical terms; a term whose ratio is
    suppressed keeps its place, marked as suppressed."""
    import numpy as np
    import polars as pl
    from matplotlib.ticker import FuncFormatter, NullFormatter

    label = d.options["label"]
    frame = d.frame.with_row_index("__row")
    hidden = d.hidden("odds_ratio")
    shown = [g for g in d.options["groups"] if frame.filter(pl.col("group") == g).height]
    fig, axes = small_multiples(max(len(shown), 1), columns=2, panel=(4.2, 3.0))
    for i, (ax, name) in enumerate(zip(axes, shown)):
        part = frame.filter(pl.col("group") == name).head(10).reverse()
        y = np.arange(part.height)
        odds = np.array(d.values("odds_ratio", frame=part))
        low = np.array(d.values("ci_low", frame=part))
        high = np.array(d.values("ci_high", frame=part))
        ax.barh(y, np.nan_to_num(odds - 1), left=1, color=PALETTE[i % len(PALETTE)], alpha=0.8)
        ax.errorbar(odds, y, xerr=[np.nan_to_num(odds - low), np.nan_to_num(high - odds)], fmt="none", ecolor="#333333", lw=0.8)
        ax.set_yticks(y, part["term"].to_list())
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.axvline(1, color="#333333", lw=0.8)
        gone = [float(j) for j, row in enumerate(part["__row"].to_list()) if hidden[row]]
        mark_suppressed(ax, gone, horizontal=True, symbol=d.rules.symbol)
        ax.set_title(f"{label} = {name}")
        ax.set_xlabel("odds ratio (log scale)")
    return fig


@drawing("text.topics")
def draw_topics(d: Drawing) -> Any:
    """Grouped bars: each topic's prevalence in each group; a group too small to describe (or
    whose prevalence is suppressed) is marked as suppressed, not drawn as a zero bar."""
    import numpy as np
    import polars as pl

    from expedition.steps._plot import mark_suppressed_bars

    frame = d.frame.with_row_index("__row")
    hidden = d.hidden("prevalence")
    notes = [bool(n) for n in frame["note"].to_list()]  # too few documents to describe
    names = d.options["groups"]
    topics = frame["topic"].unique(maintain_order=True).to_list()
    fig, ax = new_figure(7.0, 3.6)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(topics))
    marks: list[list[float]] = []
    for i, name in enumerate(names):
        part = frame.filter(pl.col("group") == name)
        by_topic = {t: (v, r) for t, v, r in zip(part["topic"].to_list(), d.values("prevalence", frame=part),
                                                 part["__row"].to_list())}
        drawn, heights, gone = [], [], []
        for j, t in enumerate(topics):
            value, row = by_topic.get(t, (float("nan"), None))
            if row is not None and (hidden[row] or notes[row]):
                gone.append(float(x[j] + i * width))
            elif np.isfinite(value):
                drawn.append(float(x[j] + i * width))
                heights.append(value)
        ax.bar(drawn, heights, width, label=str(name), color=PALETTE[i % len(PALETTE)])
        marks.append(gone)
    for gone in marks:
        mark_suppressed_bars(ax, gone, width, symbol=d.rules.symbol)
    ax.set_xticks(x + width * (len(names) - 1) / 2, topics, rotation=30, ha="right")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("expected share of the group's documents")
    ax.legend(title=d.options["label"], frameon=False)
    return fig
