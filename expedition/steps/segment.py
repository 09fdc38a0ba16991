"""`segment`: which groups of records (service users, cases, places) exist in the data?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from expedition.errors import StepError
from expedition.steps import (
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
    say,
)
from expedition.steps._columns import categorical_expr, choose_variables, no_rows, top_levels
from expedition.steps._plot import PALETTE, SUPPRESSED_COLOUR, Drawing, drawing, new_figure
from expedition.steps._text import fmt_num, fmt_pct, join_names

CHUNK = 200_000
#: how a missing category is encoded (it is a category of its own for clustering)
MISSING = "(missing)"


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

    Segment sizes, the records of each category in each segment and each segment's means pass
    the disclosure gate together: a segment too small to publish loses its size, its profiles,
    its centre and its description everywhere, and categories too rare to publish are combined
    before the step runs. The figure draws segment centres and spreads from the published tables,
    never individual records.
    """

    name = "segment"
    summary = "Finds groups of similar records (k-means or Gaussian mixture), with profiles and stability."
    version = "2"
    Params = SegmentParams
    outputs = {
        "k_scores": "silhouette width (and inertia or BIC) for every number of segments tried",
        "segments": "size, share, stability (Jaccard) and a description of each segment; its centre and "
        "spread on the first two principal components; and the mean, standard deviation and "
        "standardised difference from all records of each numeric variable",
        "variables": "mean and standard deviation of each numeric variable over all records",
        "category_profiles": "records of each category per segment, and its share of the segment",
        "figure k_scores": "silhouette width by number of segments",
        "figure projection": "segment centres and 1- and 2-SD ellipses on two principal components",
        "figure profiles": "heat map of standardised differences of numeric variables by segment",
    }

    @classmethod
    def recode_columns(cls, params: Any, columns: list[str]) -> list[str]:
        """The columns segmented on (categories among them: the runner recodes text columns only)."""
        chosen = params.variables if params.variables is not None else columns
        return [c for c in chosen if c not in set(params.exclude)]

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
        caveats: list[Any] = list(chosen.caveats)
        levels = {
            c: top_levels(lazy, c, params.max_categories - 1, min_count=max(10, ctx.min_count))
            for c in chosen.categorical
        }
        data = lazy.select(
            *[pl.col(c).cast(pl.Float64) for c in chosen.numeric],
            *[categorical_expr(c, levels[c]).fill_null(MISSING) for c in chosen.categorical],
        ).collect()
        n = data.height
        ctx.report(0.1, "encoding")
        encoder, missing_rows = _fit_encoder(data, chosen.numeric, chosen.categorical)
        if missing_rows:
            caveats.append(say(
                "{k} records had a missing value in a numeric variable; the median was used in its place.",
                k=Count(missing_rows, {f"a value of {', '.join(chosen.numeric)} missing": "yes"}),
                fallback="A few records had a missing value in a numeric variable; the median was used in its place.",
            ))
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
            caveats.append(say(
                "The models were fitted on a random sample of {s} of the {n} records; every record was "
                "then assigned to its nearest segment.",
                s=Count(len(sample_rows), population="fitting sample"), n=Count(n),
            ))

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
        sizes = data.group_by("__segment__").len().sort("__segment__")
        size_of = dict(zip(sizes["__segment__"].to_list(), sizes["len"].to_list()))
        method_name = "k-means" if params.method == "kmeans" else "a Gaussian mixture"
        segment_var = f"segment ({params.method}, k = {k}, seed {ctx.seed}, on {', '.join(chosen.all)})"
        numeric, overall_numeric = _numeric_stats(data, encoder.numeric)
        category_profiles = _category_profiles(data, list(encoder.categorical), segment_var)
        overall = _overall_counts(data, list(encoder.categorical))
        descriptions = _describe(numeric, overall_numeric, category_profiles, overall, size_of, k)
        segments = _segments_table(size_of, n, stability, descriptions, k, segment_var,
                                   _projection_stats(projection_sums, k), numeric, encoder.numeric)
        k_scores = _k_scores_table(scores, k, params.method)

        others = [s["silhouette"] for s in scores if s["k"] != k and math.isfinite(s["silhouette"])]
        versus = (
            f" against {fmt_num(min(others), 2)}–{fmt_num(max(others), 2)} for the other k tried"
            if others else ""
        )
        fit = {"k": f"{k}", "method": method_name, "v": f"{len(chosen.all)}", "sil": fmt_num(best["silhouette"], 2),
               "versus": versus}
        headlines: list[Any] = [say(
            "The {n} records fall into {k} segments ({method} on {v} variables; silhouette width {sil} "
            "for k = {k}{versus}).",
            n=Count(n), **fit,
            fallback=say("The records fall into {k} segments ({method} on {v} variables; silhouette width "
                         "{sil} for k = {k}{versus}).", **fit),
        )]
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
        for seg in range(1, k + 1):
            headlines.append(_segment_headline(seg, descriptions.get(seg)))
        caveats.append(
            "Segments describe how records resemble each other in the variables used; they do "
            "not explain why, and a different choice of variables gives different segments."
        )

        figures: dict[str, Chart] = {
            "k_scores": Chart(
                "Silhouette width by number of segments", "segment.scores", "k_scores",
                alt=f"Line chart of the mean silhouette width for each number of segments tried; k = {k} "
                "(circled) has the highest.",
                options={"k": k},
            ),
            "projection": Chart(
                "Segments on the first two principal components", "segment.projection", "segments",
                alt="Each segment's centre (numbered) with ellipses holding about 40% and 90% of its "
                "records, on the first two principal components of the variables; no individual record "
                "is drawn, and a segment whose size is suppressed is not placed.",
                options={"variance": [float(v) for v in pca.explained_variance_ratio_]},
            ),
        }
        if encoder.numeric:
            figures["profiles"] = Chart(
                "Numeric variables by segment (standardised differences)", "segment.profiles", "segments",
                alt="Heat map of each segment's mean of each numeric variable, as standard deviations above "
                "(red) or below (blue) the mean of all records; means suppressed with a small segment "
                "are hatched.",
                options={"variables": list(encoder.numeric)},
            )

        metrics: dict[str, Any] = {
            "k": float(k),
            "silhouette": float(silhouette),
            "records": Count(n),
            "fitted_on": Count(len(sample_rows), population="fitting sample"),
        }
        if stability is not None:
            metrics["stability_ari"] = float(stability["ari"])
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="Segments in the data",
            headlines=headlines,
            tables={
                "k_scores": k_scores,
                "segments": segments,
                "variables": _variables_table(overall_numeric),
                "category_profiles": category_profiles,
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
    # to 12 significant figures: the last bits of a sum over all records depend on how many BLAS
    # threads added it up, and the same seed must give the same table
    spread = float(f"{spread:.12g}")
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


def _segments_table(size_of, n, stability, descriptions, k, segment_var: str, projection: dict,
                    numeric: dict, variables: list[str]) -> Table:
    """One row per segment: its size and everything that rests on it (share, stability,
    description, centre on the principal components, and the means of the numeric variables), so
    the gate suppresses them together. (One table rather than several: a size repeated in other
    tables would be protected again in each, hiding more than the small segment needs.)"""
    import polars as pl

    ids = list(range(1, k + 1))
    columns: dict[str, list] = {
        "segment": [str(i) for i in ids],
        "n": [int(size_of.get(i, 0)) for i in ids],
        "share": [size_of.get(i, 0) / n for i in ids],
        "stability": [stability["jaccard"][i - 1] if stability else None for i in ids],
        "description": [descriptions[i].text if i in descriptions else "" for i in ids],
    }
    for name in PROJECTION:
        columns[name] = [projection[i][name] for i in ids]
    for v in variables:
        for stat in NUMERIC:
            columns[f"{stat} {v}"] = [numeric.get(i, {}).get(v, {}).get(stat) for i in ids]
    schema = {"segment": pl.String, "n": pl.Int64, "share": pl.Float64, "stability": pl.Float64,
              "description": pl.String, **{c: pl.Float64 for c in columns if c not in
                                             {"segment", "n", "share", "stability", "description"}}}
    frame = pl.DataFrame(columns, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))
    rests = [c for c in frame.columns if c not in {"segment", "n"}]
    return Table(
        frame,
        {"segment": "label", "n": "count", "share": "rate", "description": "text",
         **{c: "statistic" for c in rests if c not in {"share", "description"}}},
        title="Segments",
        description="Records in each segment (largest first), their share of all records, the "
        "mean best Jaccard overlap with the segments refitted on bootstrap resamples (1 = always "
        "found again; below 0.6 not reproducible), what distinguishes the segment, its centre, "
        "spread and correlation on the first two principal components, and for each numeric "
        "variable the mean and standard deviation of its records with a value and the "
        "standardised difference from all records (segment mean minus overall mean, in overall "
        "standard deviations); all suppressed with a segment's size.",
        denominators={c: "n" for c in rests},
        dimensions=["segment"],
        keys=Keys(variables={"segment": segment_var}, counts={"n": {}}),
    )


#: per-segment statistics of each numeric variable, and of the principal-component projection
NUMERIC = ("mean", "sd", "difference")
PROJECTION = ("pc1_mean", "pc2_mean", "pc1_sd", "pc2_sd", "correlation")


def _numeric_stats(data, numeric: list[str]) -> tuple[dict, dict]:
    """{segment: {variable: {mean, sd, difference}}} and {variable: (overall mean, overall sd)}."""
    import polars as pl

    per: dict[int, dict[str, dict[str, float | None]]] = {}
    overall = {}
    for c in numeric:
        finite = pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None)
        mu, sd = data.select(finite.mean().alias("m"), finite.std().alias("s")).row(0)
        overall[c] = (mu, sd)
        stats = data.group_by("__segment__").agg(finite.mean().alias("mean"), finite.std().alias("sd"))
        for seg, mean, s in stats.iter_rows():
            per.setdefault(seg, {})[c] = {
                "mean": mean, "sd": s, "difference": (mean - mu) / sd if sd and mean is not None else None,
            }
    return per, overall


def _variables_table(overall: dict) -> Table:
    import polars as pl

    frame = pl.DataFrame(
        {"variable": list(overall), "mean": [m for m, _ in overall.values()], "sd": [s for _, s in overall.values()]},
        schema={"variable": pl.String, "mean": pl.Float64, "sd": pl.Float64},
    )
    return Table(
        frame, {"variable": "label", "mean": "statistic", "sd": "statistic"},
        title="Numeric variables over all records",
        description="The mean and standard deviation of each numeric variable over all records "
        "with a value (what each segment's mean is compared with).",
    )


def _projection_stats(sums, k: int) -> dict[int, dict[str, float]]:
    """Each segment's centre, spread and correlation on the first two principal components."""
    import numpy as np

    out = {}
    for seg in range(k):
        n, s1, s2, s11, s22, s12 = sums[seg]
        m1, m2 = (s1 / n, s2 / n) if n else (math.nan, math.nan)
        v1 = (s11 - n * m1 * m1) / (n - 1) if n > 1 else math.nan
        v2 = (s22 - n * m2 * m2) / (n - 1) if n > 1 else math.nan
        c12 = (s12 - n * m1 * m2) / (n - 1) if n > 1 else math.nan
        sd1, sd2 = math.sqrt(max(v1, 0)) if v1 == v1 else math.nan, math.sqrt(max(v2, 0)) if v2 == v2 else math.nan
        corr = c12 / (sd1 * sd2) if sd1 and sd2 and sd1 == sd1 and sd2 == sd2 else 0.0
        out[seg + 1] = {"pc1_mean": m1, "pc2_mean": m2, "pc1_sd": sd1, "pc2_sd": sd2,
                        "correlation": float(np.clip(corr, -1, 1))}
    return out


def _category_profiles(data, categorical: list[str], segment_var: str) -> Table:
    """Records per segment and category, one block per variable; each segment's categories
    include the records missing the variable (0 when there are none), so that they add up to the
    segment's size and the gate links the two."""
    import polars as pl

    parts = []
    seg_sizes = data.group_by("__segment__").len().rename({"len": "size"})
    segments = seg_sizes.select(pl.col("__segment__"))
    for c in categorical:
        category = pl.when(pl.col(c) == MISSING).then(None).otherwise(pl.col(c))
        counts = data.group_by("__segment__", category.alias("category")).len()
        missing = segments.join(counts.filter(pl.col("category").is_null()), on="__segment__", how="left")
        counts = pl.concat([
            counts.filter(pl.col("category").is_not_null()),
            missing.select("__segment__", pl.lit(None, dtype=pl.String).alias("category"),
                           pl.col("len").fill_null(0).cast(pl.UInt32)),
        ])
        parts.append(
            counts.join(seg_sizes, on="__segment__").select(
                pl.col("__segment__").cast(pl.String).alias("segment"),
                pl.lit(c).alias("variable"),
                pl.col("category").cast(pl.String),
                pl.col("len").cast(pl.Int64).alias("n"),
                (pl.col("len") / pl.col("size")).alias("share"),
            )
        )
    schema = {"segment": pl.String, "variable": pl.String, "category": pl.String, "n": pl.Int64, "share": pl.Float64}
    if parts:
        frame = pl.concat(parts).sort(
            pl.col("segment").cast(pl.Int64), "variable", pl.col("category").is_null(), pl.col("n"), "category",
            descending=[False, False, False, True, False],
        )
    else:
        frame = pl.DataFrame(schema=schema)
    return Table(
        frame,
        {"segment": "label", "variable": "label", "category": "label", "n": "count", "share": "rate"},
        title="Categories by segment",
        description="Records in each category within each segment, and the share of the segment; "
        "an empty category is the records missing the variable.",
        denominators={"share": "n"},
        dimensions=["segment", "category"],
        keys=Keys(variables={"segment": segment_var}, pairs=("variable", "category"), counts={"n": {}}),
    )


def _overall_counts(data, categorical: list[str]) -> dict[tuple[str, str], int]:
    """Records in each category of each variable, over all segments."""
    out = {}
    for c in categorical:
        for value, count in data.group_by(c).len().iter_rows():
            out[(c, value)] = int(count)
    return out


@dataclass
class Description:
    """What distinguishes a segment: words without numbers for its table row, and the same
    features with their numbers for its headline, each withheld with the counts it rests on."""

    text: str
    items: list[Value]


def _describe(numeric: dict, overall_numeric: dict, categories: Table, overall: dict, size_of,
              k: int) -> dict[int, Description]:
    """Up to three features per segment that most distinguish it from all records."""
    import polars as pl

    out = {}
    total = sum(size_of.values())
    for seg in range(1, k + 1):
        at = {"segment": str(seg)}
        size = Cell("segments", "n", at)
        found = []
        for variable, stats in sorted(numeric.get(seg, {}).items()):
            d = stats["difference"]
            if d is not None and abs(d) >= 0.25:
                word = "higher" if d > 0 else "lower"
                found.append((abs(d), f"{word} {variable}", Value(
                    f"{word} {variable} (mean {fmt_num(stats['mean'])} vs {fmt_num(overall_numeric[variable][0])} overall)",
                    sources=(size, Cell("segments", f"mean {variable}", at)),
                )))
        cats = categories.frame.filter(
            (pl.col("segment") == str(seg)) & pl.col("category").is_not_null() & (pl.col("category") != "Other")
        )
        for row in cats.iter_rows(named=True):
            whole = overall.get((row["variable"], row["category"]), 0)
            p, q = row["share"], whole / total if total else 0.0
            if q <= 0 or q >= 1:
                continue
            d = (p - q) / math.sqrt(q * (1 - q))
            if abs(d) >= 0.25 and abs(p - q) >= 0.05:
                word = "more often" if d > 0 else "less often"
                cell = {"segment": str(seg), "variable": row["variable"], "category": row["category"]}
                found.append((abs(d), f"{word} {row['variable']} = {row['category']}", Value(
                    f"{word} {row['variable']} = {row['category']} ({fmt_pct(p, 0)} vs {fmt_pct(q, 0)} overall)",
                    sources=(size, Cell("category_profiles", "n", cell), Count(whole, {row["variable"]: row["category"]})),
                )))
        found.sort(key=lambda t: (-t[0], t[1]))
        top = found[:3]
        text = "; ".join(words for _, words, _ in top) if top else "close to the average on every variable"
        out[seg] = Description(text, [value for _, _, value in top])
    return out


def _segment_headline(seg: int, description: Description | None) -> Any:
    """A segment's share and what distinguishes it, withheld with its size."""
    at = {"segment": str(seg)}
    share_cell = Cell("segments", "share", at, ".0%")
    withheld = say("Segment {s}: its size is suppressed, so it is not described.", s=f"{seg}")
    if description is None or not description.items:
        return say("Segment {s} ({share} of records): {what}.", s=f"{seg}", share=share_cell,
                   what=Value(description.text if description else "", sources=(Cell("segments", "n", at),)),
                   fallback=withheld)
    return say(
        "Segment {s} ({share} of records): {what}.", s=f"{seg}", share=share_cell,
        what=Items(tuple(description.items), "{n} more resting on counts too small to publish"),
        fallback=withheld,
    )


# --------------------------------------------------------------------------- figures


@drawing("segment.scores")
def draw_scores(d: Drawing) -> Any:
    """Silhouette width by k, the chosen k circled."""
    k = d.options["k"]
    scores = d.frame
    fig, ax = new_figure(5.0, 3.0)
    ks = [int(v) for v in scores["k"].to_list()]
    sil = d.values("silhouette")
    ax.plot(ks, sil, marker="o", color=PALETTE[0])
    if k in ks:
        ax.plot([k], [sil[ks.index(k)]], marker="o", ms=10, mfc="none", color=PALETTE[1])
    ax.set_xticks(ks)
    ax.set_xlabel("number of segments (k)")
    ax.set_ylabel("mean silhouette width")
    ax.set_title("Separation of the segments by k")
    return fig


@drawing("segment.projection")
def draw_projection(d: Drawing) -> Any:
    """Each segment's centre and 1- and 2-SD ellipses, from the gated projection table: a
    segment whose size is suppressed has no centre to draw and is named in a note."""
    import numpy as np
    from matplotlib.patches import Ellipse

    fig, ax = new_figure(5.5, 4.2)
    xs, ys, withheld = [], [], []
    for i, row in enumerate(d.frame.select("segment", *PROJECTION).iter_rows(named=True)):
        colour = PALETTE[i % len(PALETTE)]
        if row["pc1_mean"] is None or row["pc2_mean"] is None:
            withheld.append(row["segment"])
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
    if withheld:
        ax.text(0.01, 0.99, f"not drawn, their size suppressed ({d.rules.symbol}): segment "
                + ", ".join(withheld), transform=ax.transAxes, va="top", fontsize=7, color="#555555")
    ratio = d.options["variance"]
    ax.set_xlabel(f"principal component 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"principal component 2 ({ratio[1]:.0%} of variance)" if len(ratio) > 1 else "")
    ax.set_title("Segments on two principal components")
    return fig


@drawing("segment.profiles")
def draw_profiles(d: Drawing) -> Any:
    """Standardised differences by segment and variable; a difference suppressed with its
    segment is a hatched cell with the symbol, never a blank."""
    import numpy as np
    from matplotlib.patches import Rectangle

    frame = d.frame
    segments = frame["segment"].to_list()
    variables = list(d.options["variables"])
    grid = np.full((len(segments), len(variables)), np.nan)
    masked = []
    for j, v in enumerate(variables):
        column = f"difference {v}"
        for i, (value, flag) in enumerate(zip(d.values(column), d.hidden(column))):
            if flag:
                masked.append((i, j))
            elif not math.isnan(value):
                grid[i, j] = value
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
    for i, j in masked:
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=SUPPRESSED_COLOUR, hatch="///",
                               edgecolor="#8c8c8c", linewidth=0.5))
        ax.text(j, i, d.rules.symbol, ha="center", va="center", fontsize=7, color="#555555")
    fig.colorbar(image, ax=ax, label="difference from all records (SD)")
    ax.set_title("How the segments differ")
    return fig


def _diverging():
    import matplotlib

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad="#ffffff")
