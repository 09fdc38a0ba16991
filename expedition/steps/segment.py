"""`segment`: which groups of records (service users, cases, places) exist in the data?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.steps import Step, StepContext, StepParams
from expedition.steps._columns import categorical_expr, choose_variables, no_rows, top_levels
from expedition.steps._plot import PALETTE, SUPPRESSED_COLOUR, new_figure, to_figure
from expedition.steps._text import fmt_num, fmt_pct, join_names, method_text

CHUNK = 200_000


class SegmentParams(StepParams):
    variables: list[str] | None = Field(
        None,
        description="columns to segment on; default: every numeric and categorical column except "
        "identifiers, free text, dates, coordinates and personal data",
    )
    method: Literal["kmeans", "gmm"] = Field(
        "kmeans", description="kmeans (k-means) or gmm (Gaussian mixture, diagonal covariances)"
    )
    k: int | None = Field(None, ge=2, le=30, description="a fixed number of segments; default: chosen by silhouette")
    k_min: int = Field(2, ge=2, le=30, description="smallest number of segments tried")
    k_max: int = Field(8, ge=2, le=30, description="largest number of segments tried")
    sample_size: int = Field(
        10_000, ge=200, le=1_000_000,
        description="models are fitted on a random sample of at most this many records; every "
        "record is then assigned to its nearest segment",
    )
    silhouette_sample: int = Field(
        4_000, ge=200, le=50_000, description="records used to compute each silhouette score"
    )
    bootstrap: int = Field(
        20, ge=0, le=500, description="bootstrap refits for the stability check (0 to skip)"
    )
    max_categories: int = Field(
        10, ge=2, le=50, description="categories kept per variable before one-hot encoding; the rest become 'Other'"
    )
    exclude: list[str] = Field(default_factory=list, description="columns never to segment on (e.g. the outcome)")

    @field_validator("variables")
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one variable, or leave it out to use every column")
        return value

    @model_validator(mode="after")
    def _range(self) -> SegmentParams:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) is smaller than k_min ({self.k_min})")
        return self


@dataclass
class Encoder:
    """Winsorise and standardise numbers, one-hot encode categories (fitted on all records)."""

    numeric: list[str]
    categorical: dict[str, list[str]]
    low: list[float]
    high: list[float]
    centre: list[float]
    scale: list[float]
    fill: list[float]

    @property
    def features(self) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = [(c, None) for c in self.numeric]
        for column, levels in self.categorical.items():
            out.extend((column, level) for level in levels)
        return out

    def transform(self, data: Any):
        import numpy as np

        parts = []
        if self.numeric:
            x = np.column_stack(
                [data[c].fill_null(float("nan")).to_numpy() for c in self.numeric]
            ).astype(float)
            x = np.where(np.isfinite(x), x, np.asarray(self.fill))
            x = np.clip(x, self.low, self.high)
            parts.append((x - np.asarray(self.centre)) / np.asarray(self.scale))
        for column, levels in self.categorical.items():
            values = data[column].to_numpy()
            parts.append(np.column_stack([(values == level) for level in levels]).astype(float))
        return np.hstack(parts)


class Segment(Step):
    """Finds groups of similar records by clustering, and describes each group.

    Numeric variables are clipped at their 1st and 99th percentiles (so that a few extreme values
    cannot make a segment of their own), missing values are replaced by the median, and each is
    standardised to mean 0 and standard deviation 1. Categorical variables keep their most common
    values (the rest become 'Other'; missing values become '(missing)') and are one-hot encoded as
    0/1 columns. K-means (k-means++ starts, best of 3) or a Gaussian mixture with diagonal
    covariances is fitted for each number of segments k in the range on a random sample of the
    records (sample_size), and k is chosen by the mean silhouette width, computed on a further
    sample (silhouette_sample); the scores for every k are shown. Every record is then assigned
    to its nearest segment.

    Each segment is described by its size, the means of the numeric variables and the shares of
    the categories, and the features that most distinguish it from all records (standardised
    differences). Stability is checked by refitting on bootstrap resamples of the fitting sample
    (one start each) and comparing the segments with the adjusted Rand index (1 = identical, 0 = no better than
    chance) and, per segment, the best Jaccard overlap (Hennig 2007: below 0.6 a segment is not
    reproducible). The figure projects the records onto their first two principal components
    and draws each segment's centre and spread. Segments describe the data; they do not show why
    records differ.
    """

    name = "segment"
    summary = "Finds groups of similar records (k-means or Gaussian mixture), with profiles and stability."
    version = "1"
    Params = SegmentParams
    outputs = {
        "k_scores": "silhouette width (and inertia or BIC) for every number of segments tried",
        "segments": "size, share, stability (Jaccard) and a description of each segment",
        "numeric_profiles": "mean and standard deviation of each numeric variable per segment, "
        "with its standardised difference from all records",
        "category_profiles": "share of each category per segment, against its share overall",
        "projection": "each segment's centre and spread on the first two principal components",
        "figure k_scores": "silhouette width by number of segments",
        "figure projection": "segment centres and 1- and 2-SD ellipses on two principal components",
        "figure profiles": "heat map of standardised differences of numeric variables by segment",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.referrals import generate

        frame = generate(300, seed=12).select("age", "prior_referrals", "disability", "referral_source")
        return frame.lazy(), {"k_max": 4, "bootstrap": 3}

    def run(self, frame: Any, params: SegmentParams, ctx: StepContext) -> Finding:
        import numpy as np
        import polars as pl

        lazy = frame.lazy()  # a LazyFrame is its own lazy frame
        ctx.report(0.02, "choosing variables")
        chosen = choose_variables(
            lazy, step=self.name, ctx=ctx, variables=params.variables, exclude=params.exclude,
            max_levels=params.max_categories,
        )
        if chosen.rows == 0:
            raise no_rows(self.name)
        if not chosen.all:
            raise StepError(
                f"step '{self.name}': no column can be used to segment the records",
                "name the columns with variables: [...]; " + " ".join(chosen.caveats),
            )
        caveats = list(chosen.caveats)
        levels = {
            c: top_levels(lazy, c, params.max_categories - 1, min_count=max(10, ctx.min_count))
            for c in chosen.categorical
        }
        data = lazy.select(
            *[pl.col(c).cast(pl.Float64) for c in chosen.numeric],
            *[categorical_expr(c, levels[c]).fill_null("(missing)") for c in chosen.categorical],
        ).collect()
        n = data.height
        ctx.report(0.1, "encoding")
        encoder, missing_rows = _fit_encoder(data, chosen.numeric, chosen.categorical)
        if missing_rows:
            caveats.append(
                f"{missing_rows:,} records had a missing value in a numeric variable; the median "
                "was used in its place."
            )
        if len(encoder.features) < 2 and not encoder.numeric:
            raise StepError(
                f"step '{self.name}': one category is not enough to segment on",
                "add more variables",
            )

        rng = np.random.default_rng(ctx.seed)
        sample_rows = np.sort(rng.choice(n, size=min(n, params.sample_size), replace=False))
        x_sample = encoder.transform(data[sample_rows])
        distinct = len(np.unique(x_sample, axis=0))
        if distinct < 3:
            raise StepError(
                f"step '{self.name}': the records take only {distinct} distinct combination(s) of "
                "the variables, too few to segment",
                "add variables that vary between records",
            )
        k_values = [params.k] if params.k else list(range(params.k_min, params.k_max + 1))
        too_many = [k for k in k_values if k >= distinct or k > len(sample_rows) // 5]
        k_values = [k for k in k_values if k not in too_many]
        if not k_values:
            raise StepError(
                f"step '{self.name}': too few records ({n:,}) or distinct values ({distinct:,}) "
                f"for {params.k or params.k_min} segments",
                "ask for fewer segments (k or k_min), or use more records",
            )
        if too_many:
            caveats.append(
                f"k = {join_names([str(k) for k in too_many])} not tried: too few records or "
                "distinct values."
            )
        if n > len(sample_rows):
            caveats.append(
                f"The models were fitted on a random sample of {len(sample_rows):,} of the "
                f"{n:,} records; every record was then assigned to its nearest segment."
            )

        sil_rows = rng.choice(len(sample_rows), size=min(len(sample_rows), params.silhouette_sample), replace=False)
        scores = []
        models = {}
        for i, k in enumerate(k_values):
            ctx.report(0.15 + 0.35 * i / len(k_values), f"fitting k = {k}")
            model = _fit(params.method, k, x_sample, ctx.seed)
            labels = model.predict(x_sample)
            scores.append(_score(model, params.method, k, x_sample, labels, sil_rows))
            models[k] = (model, labels)
        best = max(scores, key=lambda s: (s["silhouette"] if math.isfinite(s["silhouette"]) else -2, -s["k"]))
        k = best["k"]
        model, sample_labels = models[k]
        if not math.isfinite(best["silhouette"]):
            raise StepError(
                f"step '{self.name}': no number of segments gave distinct groups",
                "check the variables: they may not vary enough to segment on",
            )

        ctx.report(0.55, "assigning every record")
        order, labels, projection_sums, pca = _assign(model, encoder, data, x_sample, k)
        sample_labels = order[sample_labels]

        ctx.report(0.65, "checking stability")
        stability = _stability(params, x_sample, sample_labels, k, ctx)

        ctx.report(0.85, "describing segments")
        data = data.with_columns(pl.Series("__segment__", labels + 1, dtype=pl.Int32))
        rules = ctx.disclosure
        sizes = data.group_by("__segment__").len().sort("__segment__")
        size_of = dict(zip(sizes["__segment__"].to_list(), sizes["len"].to_list()))
        numeric_profiles = safe_table(_numeric_profiles(data, encoder.numeric, k), rules)
        category_profiles = safe_table(_category_profiles(data, list(encoder.categorical), k), rules)
        descriptions = _describe(numeric_profiles, category_profiles, size_of, k, rules.min_count)
        segments = safe_table(_segments_table(size_of, n, stability, descriptions, k), rules)
        # a segment hidden in the segments table (its size, or the size that would reveal it from
        # the total) is hidden in every table
        hidden = set(segments.frame.filter(pl.col("n").is_null())["segment"].to_list())
        numeric_profiles = _hide(numeric_profiles, hidden)
        category_profiles = _hide(category_profiles, hidden)
        projection = _hide(safe_table(_projection_table(projection_sums, k), rules), hidden)
        k_scores = _k_scores_table(scores, k, params.method)

        method_name = "k-means" if params.method == "kmeans" else "a Gaussian mixture"
        others = [s["silhouette"] for s in scores if s["k"] != k and math.isfinite(s["silhouette"])]
        versus = (
            f" against {fmt_num(min(others), 2)}–{fmt_num(max(others), 2)} for the other k tried"
            if others else ""
        )
        headlines = [
            f"The {n:,} records fall into {k} segments ({method_name} on {len(chosen.all)} "
            f"variables; silhouette width {fmt_num(best['silhouette'], 2)} for k = {k}{versus})."
        ]
        silhouette = best["silhouette"]
        if silhouette <= 0.25:
            caveats.append(
                f"The segments are not well separated (silhouette {fmt_num(silhouette, 2)}; 0.25 "
                "or less means no substantial structure, after Kaufman and Rousseeuw): treat them "
                "as a convenient summary of the records, not as natural groups."
            )
        elif silhouette <= 0.5:
            caveats.append(
                f"The segments overlap (silhouette {fmt_num(silhouette, 2)}; 0.26–0.50 is weak "
                "structure, after Kaufman and Rousseeuw)."
            )
        if stability is not None:
            ari, low, high = stability["ari"], stability["ari_low"], stability["ari_high"]
            verdict = "stable" if ari >= 0.8 else "moderately stable" if ari >= 0.6 else "not stable"
            headlines.append(
                f"The segments are {verdict} when the data are resampled: adjusted Rand index "
                f"{fmt_num(ari, 2)} on average (95% of {params.bootstrap} bootstrap refits between "
                f"{fmt_num(low, 2)} and {fmt_num(high, 2)})."
            )
            if ari < 0.6:
                caveats.append(
                    "The segments change a lot when the data are resampled; do not base decisions "
                    "on membership of a particular segment."
                )
        for row in segments.frame.iter_rows(named=True):
            if row["n"] is not None and row["description"]:
                headlines.append(
                    f"Segment {row['segment']} ({fmt_pct(row['share'], 0)} of records): {row['description']}."
                )
        caveats.append(
            "Segments describe how records resemble each other in the variables used; they do "
            "not explain why, and a different choice of variables gives different segments."
        )

        ctx.report(0.93, "drawing figures")
        figures: dict[str, Figure] = {"k_scores": _draw_scores(k_scores.frame, k)}
        if projection.frame["pc1_mean"].drop_nulls().len():
            figures["projection"] = _draw_projection(projection.frame, pca)
        if numeric_profiles.frame.height:
            figures["profiles"] = _draw_profiles(numeric_profiles.frame)

        metrics = {
            "k": float(k),
            "silhouette": float(silhouette),
            "records": float(n),
            "fitted_on": float(len(sample_rows)),
        }
        if stability is not None:
            metrics["stability_ari"] = float(stability["ari"])
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="Segments in the data",
            headlines=headlines,
            method=method_text(self),
            tables={
                "k_scores": k_scores,
                "segments": segments,
                "numeric_profiles": numeric_profiles,
                "category_profiles": category_profiles,
                "projection": projection,
            },
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
            artifacts={"segment_model": {"encoder": encoder, "model": model, "order": order}},
        )


# --------------------------------------------------------------------------- fitting


def _fit_encoder(data: Any, numeric: list[str], categorical: list[str]) -> tuple[Encoder, int]:
    import numpy as np
    import polars as pl

    low, high, centre, scale, fill = [], [], [], [], []
    missing_rows = 0
    if numeric:
        finite = data.select(
            pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None) for c in numeric
        )
        missing_rows = finite.select(pl.any_horizontal(pl.all().is_null()).sum()).item()
        stats = finite.select(
            *[pl.col(c).quantile(0.01, "linear").alias(f"{c}\x00lo") for c in numeric],
            *[pl.col(c).quantile(0.99, "linear").alias(f"{c}\x00hi") for c in numeric],
            *[pl.col(c).median().alias(f"{c}\x00med") for c in numeric],
        ).row(0, named=True)
        for c in numeric:
            lo, hi, med = stats[f"{c}\x00lo"], stats[f"{c}\x00hi"], stats[f"{c}\x00med"]
            clipped = finite[c].fill_null(med).clip(lo, hi)
            mu, sd = float(clipped.mean()), float(clipped.std() or 0.0)
            low.append(lo)
            high.append(hi)
            fill.append(med)
            centre.append(mu)
            scale.append(sd if sd > 0 and np.isfinite(sd) else 1.0)
    levels = {}
    for c in categorical:
        levels[c] = sorted(data[c].unique().to_list())
    return Encoder(numeric, levels, low, high, centre, scale, fill), int(missing_rows)


def _fit(method: str, k: int, x: Any, seed: int, restarts: int = 3):
    """Fit one model (OpenMP threads as `fitting_threads` allows)."""
    from expedition.steps._parallel import fitting_threads

    with fitting_threads():
        if method == "kmeans":
            from sklearn.cluster import KMeans

            return KMeans(n_clusters=k, n_init=restarts, random_state=seed).fit(x)
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(
            n_components=k, covariance_type="diag", reg_covar=1e-4, n_init=max(1, restarts - 1),
            random_state=seed,
        ).fit(x)


def _score(model, method: str, k: int, x, labels, sil_rows) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import silhouette_score

    used = len(np.unique(labels[sil_rows]))
    silhouette = float(silhouette_score(x[sil_rows], labels[sil_rows])) if used > 1 else math.nan
    spread = float(model.inertia_) if method == "kmeans" else float(model.bic(x))
    return {"k": k, "silhouette": silhouette, "fit": spread, "segments_found": int(len(np.unique(labels)))}


def _assign(model, encoder: Encoder, data, x_sample, k: int):
    """Labels for every record (segments renumbered largest first) and per-segment projection sums."""
    import numpy as np
    from sklearn.decomposition import PCA

    from expedition.steps._parallel import fitting_threads

    components = min(2, x_sample.shape[1])
    pca = PCA(n_components=components, random_state=0).fit(x_sample)
    raw = np.empty(data.height, dtype=np.int64)
    sums = np.zeros((k, 6))  # n, sum1, sum2, sum11, sum22, sum12
    for start in range(0, data.height, CHUNK):
        x = encoder.transform(data.slice(start, CHUNK))
        with fitting_threads():
            lab = model.predict(x)
        raw[start : start + len(lab)] = lab
        z = pca.transform(x)
        if z.shape[1] == 1:
            z = np.column_stack([z[:, 0], np.zeros(len(z))])
        for seg in range(k):
            zs = z[lab == seg]
            sums[seg] += [len(zs), zs[:, 0].sum(), zs[:, 1].sum(), (zs[:, 0] ** 2).sum(),
                          (zs[:, 1] ** 2).sum(), (zs[:, 0] * zs[:, 1]).sum()]
    counts = np.bincount(raw, minlength=k)
    # renumber: largest segment first, ties by original label
    ranking = sorted(range(k), key=lambda s: (-counts[s], s))
    order = np.empty(k, dtype=np.int64)
    for new, old in enumerate(ranking):
        order[old] = new
    return order, order[raw], sums[ranking], pca


def _stability(params, x_sample, reference, k: int, ctx) -> dict[str, float] | None:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    if params.bootstrap == 0:
        return None
    rng = np.random.default_rng(ctx.seed + 1)
    aris, jaccards = [], []
    n = len(x_sample)
    for b in range(params.bootstrap):
        ctx.report(0.65 + 0.2 * b / params.bootstrap, f"bootstrap refit {b + 1} of {params.bootstrap}")
        rows = rng.integers(0, n, size=n)
        model = _fit(params.method, k, x_sample[rows], (ctx.seed + b + 1) % 2**32, restarts=1)
        labels = model.predict(x_sample)
        aris.append(adjusted_rand_score(reference, labels))
        best = []
        for seg in range(k):
            a = reference == seg
            overlaps = []
            for other in np.unique(labels):
                bset = labels == other
                union = np.logical_or(a, bset).sum()
                overlaps.append(np.logical_and(a, bset).sum() / union if union else 0.0)
            best.append(max(overlaps) if overlaps else 0.0)
        jaccards.append(best)
    aris = np.asarray(aris)
    jac = np.asarray(jaccards)
    return {
        "ari": float(aris.mean()),
        "ari_low": float(np.quantile(aris, 0.025)),
        "ari_high": float(np.quantile(aris, 0.975)),
        "jaccard": [float(v) for v in jac.mean(axis=0)],
    }


# --------------------------------------------------------------------------- tables


def _k_scores_table(scores: list[dict[str, Any]], k: int, method: str) -> Table:
    import polars as pl

    fit_name = "inertia" if method == "kmeans" else "bic"
    frame = pl.DataFrame(
        {
            "k": [str(s["k"]) for s in scores],
            "chosen": ["yes" if s["k"] == k else "" for s in scores],
            "silhouette": [s["silhouette"] for s in scores],
            fit_name: [s["fit"] for s in scores],
        },
        schema={"k": pl.String, "chosen": pl.String, "silhouette": pl.Float64, fit_name: pl.Float64},
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"k": "label", "chosen": "label", "silhouette": "statistic", fit_name: "statistic"},
        title="Choosing the number of segments",
        description="Mean silhouette width (higher is better separated; the largest is chosen) and "
        + ("the within-segment sum of squares" if method == "kmeans" else "the Bayesian information criterion")
        + " for each number of segments tried, on the fitting sample.",
    )


def _segments_table(size_of, n, stability, descriptions, k) -> Table:
    import polars as pl

    ids = list(range(1, k + 1))
    frame = pl.DataFrame(
        {
            "segment": [str(i) for i in ids],
            "n": [int(size_of.get(i, 0)) for i in ids],
            "share": [size_of.get(i, 0) / n for i in ids],
            "stability": [stability["jaccard"][i - 1] if stability else None for i in ids],
            "description": [descriptions.get(i, "") for i in ids],
        },
        schema={"segment": pl.String, "n": pl.Int64, "share": pl.Float64, "stability": pl.Float64, "description": pl.String},
    )
    return Table(
        frame,
        {"segment": "label", "n": "count", "share": "rate", "stability": "statistic", "description": "text"},
        title="Segments",
        description="Records in each segment (largest first), their share of all records, the "
        "mean best Jaccard overlap with the segments refitted on bootstrap resamples (1 = always "
        "found again; below 0.6 not reproducible), and what distinguishes the segment.",
        denominators={"share": "n", "stability": "n", "description": "n"},
    )


def _hide(table: Table, segments: set[str]) -> Table:
    """The table with the counts (and what was derived from them) of *segments* blanked."""
    import polars as pl

    if not segments:
        return table
    hidden = pl.col("segment").is_in(sorted(segments))
    counts = [c for c, kind in table.kinds.items() if kind == "count"]
    derived = [c for c, sources in table.denominators.items() if any(s in counts for s in sources)]
    frame = table.frame.with_columns(
        pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in [*counts, *derived]
    )
    return Table(frame, table.kinds, table.title, table.description, table.denominators)


def _numeric_profiles(data, numeric: list[str], k: int) -> Table:
    import polars as pl

    rows = []
    for c in numeric:
        finite = pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None)
        overall = data.select(finite.mean().alias("m"), finite.std().alias("s")).row(0)
        mu, sd = overall
        per = (
            data.group_by("__segment__")
            .agg(finite.count().alias("n"), finite.mean().alias("mean"), finite.std().alias("sd"))
            .sort("__segment__")
        )
        for seg, count, mean, s in per.iter_rows():
            rows.append(
                {
                    "segment": str(seg),
                    "variable": c,
                    "n": count,
                    "mean": mean,
                    "sd": s,
                    "overall_mean": mu,
                    "difference": (mean - mu) / sd if sd and mean is not None else None,
                }
            )
    schema = {
        "segment": pl.String, "variable": pl.String, "n": pl.Int64, "mean": pl.Float64,
        "sd": pl.Float64, "overall_mean": pl.Float64, "difference": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema).sort("segment", "variable", maintain_order=True) if rows else pl.DataFrame(schema=schema)
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"segment": "label", "variable": "label", "n": "count", "mean": "statistic", "sd": "statistic",
         "overall_mean": "statistic", "difference": "statistic"},
        title="Numeric variables by segment",
        description="Mean and standard deviation per segment, the mean over all records, and the "
        "standardised difference (segment mean minus overall mean, in overall standard deviations).",
        denominators={c: "n" for c in ("mean", "sd", "difference")},
    )


def _category_profiles(data, categorical: list[str], k: int) -> Table:
    import polars as pl

    parts = []
    total = data.height
    for c in categorical:
        overall = data.group_by(c).len().with_columns((pl.col("len") / total).alias("overall_share")).drop("len")
        seg_sizes = data.group_by("__segment__").len().rename({"len": "size"})
        counts = (
            data.group_by("__segment__", c).len()
            .join(seg_sizes, on="__segment__")
            .join(overall, on=c)
            .select(
                pl.col("__segment__").cast(pl.String).alias("segment"),
                pl.lit(c).alias("variable"),
                pl.col(c).cast(pl.String).alias("category"),
                pl.col("len").cast(pl.Int64).alias("n"),
                (pl.col("len") / pl.col("size")).alias("share"),
                pl.col("overall_share"),
            )
        )
        parts.append(counts)
    schema = {
        "segment": pl.String, "variable": pl.String, "category": pl.String, "n": pl.Int64,
        "share": pl.Float64, "overall_share": pl.Float64,
    }
    if parts:
        frame = pl.concat(parts).sort(
            pl.col("segment").cast(pl.Int64), "variable", pl.col("n"), "category",
            descending=[False, False, True, False],
        )
    else:
        frame = pl.DataFrame(schema=schema)
    return Table(
        frame,
        {"segment": "label", "variable": "label", "category": "label", "n": "count", "share": "rate", "overall_share": "rate"},
        title="Categories by segment",
        description="Records in each category within each segment, the share of the segment, and "
        "the category's share of all records.",
        denominators={"share": "n"},
    )


def _projection_table(sums, k: int) -> Table:
    import numpy as np
    import polars as pl

    rows = []
    for seg in range(k):
        n, s1, s2, s11, s22, s12 = sums[seg]
        m1, m2 = (s1 / n, s2 / n) if n else (math.nan, math.nan)
        v1 = (s11 - n * m1 * m1) / (n - 1) if n > 1 else math.nan
        v2 = (s22 - n * m2 * m2) / (n - 1) if n > 1 else math.nan
        c12 = (s12 - n * m1 * m2) / (n - 1) if n > 1 else math.nan
        sd1, sd2 = math.sqrt(max(v1, 0)) if v1 == v1 else math.nan, math.sqrt(max(v2, 0)) if v2 == v2 else math.nan
        corr = c12 / (sd1 * sd2) if sd1 and sd2 and sd1 == sd1 and sd2 == sd2 else 0.0
        rows.append({"segment": str(seg + 1), "n": int(n), "pc1_mean": m1, "pc2_mean": m2,
                     "pc1_sd": sd1, "pc2_sd": sd2, "correlation": float(np.clip(corr, -1, 1))})
    frame = pl.DataFrame(rows).with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"segment": "label", "n": "count", "pc1_mean": "statistic", "pc2_mean": "statistic",
         "pc1_sd": "statistic", "pc2_sd": "statistic", "correlation": "statistic"},
        title="Segments on the first two principal components",
        description="Centre, spread and correlation of each segment's records projected on the "
        "first two principal components of the encoded variables.",
        denominators={c: "n" for c in ("pc1_mean", "pc2_mean", "pc1_sd", "pc2_sd", "correlation")},
    )


def _describe(numeric: Table, categories: Table, size_of, k: int, min_count: int) -> dict[int, str]:
    """Up to three features per segment that most distinguish it from all records."""
    import polars as pl

    out = {}
    for seg in range(1, k + 1):
        if size_of.get(seg, 0) < min_count:
            continue
        items = []
        part = numeric.frame.filter((pl.col("segment") == str(seg)) & pl.col("difference").is_not_null())
        for row in part.iter_rows(named=True):
            d = row["difference"]
            if abs(d) >= 0.25:
                word = "higher" if d > 0 else "lower"
                items.append((abs(d), f"{word} {row['variable']} (mean {fmt_num(row['mean'])} vs {fmt_num(row['overall_mean'])} overall)"))
        cats = categories.frame.filter(
            (pl.col("segment") == str(seg)) & pl.col("share").is_not_null() & (pl.col("category") != "Other")
        )
        for row in cats.iter_rows(named=True):
            p, q = row["share"], row["overall_share"]
            if q <= 0 or q >= 1:
                continue
            d = (p - q) / math.sqrt(q * (1 - q))
            if abs(d) >= 0.25 and abs(p - q) >= 0.05:
                word = "more often" if d > 0 else "less often"
                items.append((abs(d), f"{word} {row['variable']} = {row['category']} ({fmt_pct(p, 0)} vs {fmt_pct(q, 0)} overall)"))
        items.sort(key=lambda t: (-t[0], t[1]))
        out[seg] = "; ".join(text for _, text in items[:3]) if items else "close to the average on every variable"
    return out


# --------------------------------------------------------------------------- figures


def _draw_scores(scores, k: int) -> Figure:
    fig, ax = new_figure(5.0, 3.0)
    ks = [int(v) for v in scores["k"].to_list()]
    sil = [v if v is not None else float("nan") for v in scores["silhouette"].to_list()]
    ax.plot(ks, sil, marker="o", color=PALETTE[0])
    if k in ks:
        ax.plot([k], [sil[ks.index(k)]], marker="o", ms=10, mfc="none", color=PALETTE[1])
    ax.set_xticks(ks)
    ax.set_xlabel("number of segments (k)")
    ax.set_ylabel("mean silhouette width")
    ax.set_title("Separation of the segments by k")
    return to_figure(
        fig,
        "Silhouette width by number of segments",
        alt=f"Line chart of the mean silhouette width for each number of segments tried; k = {k} "
        "(circled) has the highest.",
        data="k_scores",
    )


def _draw_projection(projection, pca) -> Figure:
    import numpy as np
    from matplotlib.patches import Ellipse

    fig, ax = new_figure(5.5, 4.2)
    xs, ys = [], []
    for i, row in enumerate(projection.iter_rows(named=True)):
        colour = PALETTE[i % len(PALETTE)]
        if row["pc1_mean"] is None:
            continue
        m1, m2, s1, s2 = row["pc1_mean"], row["pc2_mean"], row["pc1_sd"] or 0.0, row["pc2_sd"] or 0.0
        r = row["correlation"] or 0.0
        cov = np.array([[s1 * s1, r * s1 * s2], [r * s1 * s2, s2 * s2]])
        values, vectors = np.linalg.eigh(cov)
        values = np.clip(values, 0, None)
        angle = float(np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1])))
        for scale, alpha in ((1, 0.35), (2, 0.12)):
            ax.add_patch(
                Ellipse((m1, m2), 2 * scale * math.sqrt(values[-1]), 2 * scale * math.sqrt(values[0]),
                        angle=angle, color=colour, alpha=alpha, lw=0)
            )
        ax.plot([m1], [m2], marker="o", color=colour)
        ax.annotate(f"{row['segment']}", (m1, m2), xytext=(4, 4), textcoords="offset points", fontsize=9, weight="bold")
        reach = 2.1 * math.sqrt(values[-1])  # the 2-SD ellipse's longest half-axis
        xs += [m1 - reach, m1 + reach]
        ys += [m2 - reach, m2 + reach]
    if xs:
        ax.set_xlim(min(xs), max(xs))
        ax.set_ylim(min(ys), max(ys))
    ratio = pca.explained_variance_ratio_
    ax.set_xlabel(f"principal component 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"principal component 2 ({ratio[1]:.0%} of variance)" if len(ratio) > 1 else "")
    ax.set_title("Segments on two principal components")
    return to_figure(
        fig,
        "Segments on the first two principal components",
        alt="Each segment's centre (numbered) with ellipses holding about 40% and 90% of its "
        "records, on the first two principal components of the variables; no individual record "
        "is drawn.",
        data="projection",
    )


def _draw_profiles(numeric) -> Figure:
    import numpy as np

    segments = sorted(set(numeric["segment"].to_list()), key=int)
    variables = sorted(set(numeric["variable"].to_list()))
    grid = np.full((len(segments), len(variables)), np.nan)
    for row in numeric.iter_rows(named=True):
        if row["difference"] is not None:
            grid[segments.index(row["segment"]), variables.index(row["variable"])] = row["difference"]
    fig, ax = new_figure(max(4.0, 0.8 * len(variables) + 2), max(2.5, 0.45 * len(segments) + 1.5))
    limit = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
    cmap = _diverging()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(variables)), variables, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(segments)), [f"segment {s}" for s in segments], fontsize=8)
    for i in range(len(segments)):
        for j in range(len(variables)):
            if np.isfinite(grid[i, j]):
                dark = abs(grid[i, j]) > 0.6 * limit
                ax.text(j, i, f"{grid[i, j]:+.1f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label="difference from all records (SD)")
    ax.set_title("How the segments differ")
    return to_figure(
        fig,
        "Numeric variables by segment (standardised differences)",
        alt="Heat map of each segment's mean of each numeric variable, as standard deviations above "
        "(red) or below (blue) the mean of all records.",
        data="numeric_profiles",
    )


def _diverging():
    import matplotlib

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad=SUPPRESSED_COLOUR)
