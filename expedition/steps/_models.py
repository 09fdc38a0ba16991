"""Shared by the `text`, `risk` and `drivers` steps and `expedition score`: text preparation,
feature preparation, model pipelines, ranking metrics with fast bootstraps, the leakage check,
fairness tables and the saved model (`RiskModel`).

Everything that touches a model's *input* lives here, so training (in the `risk` step) and
scoring (in `expedition score`) prepare data with the same code. The fitted pipelines hold
references to functions in this module (the text redaction), so a saved model loads only where
this module does — one reason a model records the versions it was made with.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.errors import StepError
from expedition.pii import CANDIDATE, redact

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

#: Bump when a saved `RiskModel` changes shape; `expedition score` refuses other formats.
MODEL_FORMAT = 1

#: Words that carry meaning in case notes although general stop-word lists drop them.
KEEP_WORDS = frozenset({"no", "not", "nor", "never", "nothing", "none", "without", "cannot"})

_TOKEN = re.compile(r"\[([A-Z_]+)\]")


# --------------------------------------------------------------------------- text


def stop_words() -> list[str]:
    """scikit-learn's English stop words, less the negations ("no concerns" is not "concerns")."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(set(ENGLISH_STOP_WORDS) - KEEP_WORDS)


def redact_series(values: Any) -> tuple[pl.Series, dict[str, int]]:
    """Redact personal data from a text column; also count the documents with each kind found.

    Redacted spans become tokens such as ``redacted_phone`` so a model or a term list can say
    that a note held a phone number without holding the number. Only texts that pass the quick
    screen `expedition.pii.CANDIDATE` (a vectorised Polars regex) are scanned in Python.
    Missing values become empty strings.
    """
    import polars as pl

    series = values if isinstance(values, pl.Series) else pl.Series(_as_list(values), dtype=pl.String)
    series = series.cast(pl.String).fill_null("")
    screen = series.str.contains(CANDIDATE)
    index = screen.arg_true().to_list()
    counts: dict[str, int] = {}
    if index:
        texts = series.gather(index).to_list()
        cleaned = []
        for text in texts:
            out, kinds = redact(text)
            cleaned.append(out)
            for kind in set(kinds):
                counts[kind] = counts.get(kind, 0) + 1
        series = series.scatter(index, pl.Series(cleaned, dtype=pl.String))
    series = series.str.replace_all(r"\[([A-Z_]+)\]", "redacted_${1}")
    return series, dict(sorted(counts.items()))


def _as_list(values: Any) -> list[Any]:
    if hasattr(values, "to_list"):
        return values.to_list()
    if hasattr(values, "tolist"):
        out = values.tolist()
        return [v[0] if isinstance(v, list) and len(v) == 1 else v for v in out]
    return list(values)


def redact_for_model(values: Any) -> list[str]:
    """The first stage of every text pipeline: personal data out before any term is counted."""
    series, _ = redact_series(values)
    return series.to_list()


def term_vectorizer(
    *, min_docs: int, max_terms: int, ngrams: int = 2, binary: bool = False, tfidf: bool = True
) -> Any:
    """TF-IDF (or binary counts) over words and phrases that occur in at least *min_docs* notes."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    options = dict(
        lowercase=True,
        stop_words=stop_words(),
        ngram_range=(1, ngrams),
        min_df=max(int(min_docs), 1),
        max_features=max_terms,
        token_pattern=r"(?u)\b[^\W\d][\w'-]*[^\W\d_]\b|\bredacted_[a-z_]+\b",
        dtype=_float32(),
    )
    if tfidf:
        return TfidfVectorizer(sublinear_tf=True, binary=binary, **options)
    return CountVectorizer(binary=binary, **options)


def _float32() -> Any:
    import numpy as np

    return np.float32


def text_pipeline(*, min_docs: int, max_terms: int, ngrams: int = 2) -> Any:
    """Redaction, then TF-IDF: what a model sees of a free-text column."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline(
        [
            ("redact", FunctionTransformer(redact_for_model, validate=False)),
            ("tfidf", term_vectorizer(min_docs=min_docs, max_terms=max_terms, ngrams=ngrams)),
        ]
    )


def joined_text(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """The text columns of each row joined into one document (missing parts left out)."""
    import polars as pl

    if len(columns) == 1:
        return frame[columns[0]].cast(pl.String).fill_null("").alias("__text__")
    return frame.select(
        pl.concat_str([pl.col(c).cast(pl.String) for c in columns], separator=". ", ignore_nulls=True)
        .fill_null("")
        .alias("__text__")
    ).to_series()


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns a model reads and how each is prepared.

    ``dates`` are turned into days relative to ``date`` (the prediction point) when it is set,
    else into days since 1970-01-01.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    date: str | None = None

    @property
    def structured(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.dates]

    @property
    def inputs(self) -> list[str]:
        """The columns a frame needs for `prepare`."""
        cols = [*self.structured, *self.text]
        if self.dates and self.date and self.date not in cols:
            cols.append(self.date)
        return cols

    @property
    def numeric_like(self) -> list[str]:
        return [*self.numeric, *self.dates]


MISSING_CATEGORY = "(missing)"


def prepare(frame: pl.DataFrame, spec: FeatureSpec) -> pl.DataFrame:
    """The model's input frame: numbers as floats, categories as text, dates as day offsets."""
    import polars as pl

    exprs: list[pl.Expr] = []
    for column in spec.numeric:
        exprs.append(pl.col(column).cast(pl.Float64, strict=False).alias(column))
    for column in spec.categorical:
        exprs.append(pl.col(column).cast(pl.String).fill_null(MISSING_CATEGORY).alias(column))
    for column in spec.dates:
        if spec.date:
            days = (pl.col(column).cast(pl.Date) - pl.col(spec.date).cast(pl.Date)).dt.total_days()
        else:
            days = pl.col(column).cast(pl.Date).cast(pl.Int64)
        exprs.append(days.cast(pl.Float64).alias(column))
    for column in spec.text:
        exprs.append(pl.col(column).cast(pl.String).fill_null("").alias(column))
    try:
        return frame.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise StepError(
            f"the model's input columns could not be prepared: {exc}",
            "check that each feature has the type it had when the model was trained",
        ) from None


def logistic_pipeline(spec: FeatureSpec, *, C: float, min_count: int, max_terms: int, seed: int) -> Any:
    """Regularised (L2) logistic regression on scaled numbers, one-hot categories and TF-IDF text."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts: list[tuple[str, Any, Any]] = []
    if spec.numeric_like:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())]
        )
        parts.append(("numeric", numeric, spec.numeric_like))
    if spec.categorical:
        parts.append(
            (
                "categorical",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=max(min_count, 1),
                    max_categories=50,
                    sparse_output=True,
                ),
                spec.categorical,
            )
        )
    for column in spec.text:
        parts.append((f"text:{column}", text_pipeline(min_docs=min_count, max_terms=max_terms), column))
    prep = ColumnTransformer(parts, sparse_threshold=0.3)
    model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    return Pipeline([("prepare", prep), ("model", model)])


def boosting_pipeline(spec: FeatureSpec, *, min_count: int, max_terms: int, text_terms: int, seed: int) -> Any:
    """Histogram gradient boosting on numbers, ordinal-coded categories and the most outcome-related
    text terms (chi-squared selection on the training data)."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_selection import SelectKBest, chi2
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    # categories first, so their positions in the model's input do not depend on the text
    parts: list[tuple[str, Any, Any]] = []
    if spec.categorical:
        parts.append(
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    min_frequency=max(min_count, 1),
                    max_categories=250,
                ),
                spec.categorical,
            )
        )
    if spec.numeric_like:
        parts.append(("numeric", "passthrough", spec.numeric_like))
    for column in spec.text:
        text = text_pipeline(min_docs=min_count, max_terms=max_terms)
        text.steps.append(("select", SelectKBest(chi2, k=text_terms)))
        parts.append((f"text:{column}", text, column))
    prep = ColumnTransformer(parts, sparse_threshold=0.0)
    model = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=max(20, min_count),
        l2_regularization=1.0,
        categorical_features=list(range(len(spec.categorical))) or None,
        random_state=seed,
    )
    return Pipeline([("prepare", prep), ("model", model)])


#: Below this many records, OpenMP (used by gradient boosting) runs on one thread: on small data
#: threads cost more in start-up and waiting than they save, badly so on a busy machine.
SINGLE_THREAD_BELOW = 100_000


def thread_limit(rows: int) -> Any:
    """A context manager that keeps OpenMP to one thread for small data (else changes nothing)."""
    import contextlib

    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime, so the limit reaches it
    from threadpoolctl import threadpool_limits

    if rows < SINGLE_THREAD_BELOW:
        return threadpool_limits(limits=1, user_api="openmp")
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- ranking metrics


class Ranked:
    """Scores sorted once (highest first, ties grouped) so each bootstrap replicate costs O(n).

    ``auc`` and ``average_precision`` take optional per-record weights (bootstrap counts) and
    agree with scikit-learn's ``roc_auc_score`` and ``average_precision_score`` given the same
    ``sample_weight``; scikit-learn re-sorts on every call, which made 200 replicates on a
    million records take minutes.
    """

    def __init__(self, scores: np.ndarray, y: np.ndarray) -> None:
        import numpy as np

        scores = np.asarray(scores, dtype=float)
        self.order = np.argsort(-scores, kind="stable")
        ordered = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.y = np.asarray(y, dtype=float)[self.order]

    def blocks(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        w = np.ones_like(self.y) if weights is None else np.asarray(weights, dtype=float)[self.order]
        positive = np.add.reduceat(w * self.y, self.starts)
        negative = np.add.reduceat(w * (1.0 - self.y), self.starts)
        return positive, negative

    @staticmethod
    def auc_from(positive: np.ndarray, negative: np.ndarray) -> float:
        import numpy as np

        P, N = positive.sum(), negative.sum()
        if P <= 0 or N <= 0:
            return math.nan
        above = np.cumsum(positive) - positive
        return float(np.sum(negative * (above + 0.5 * positive)) / (P * N))

    @staticmethod
    def ap_from(positive: np.ndarray, negative: np.ndarray) -> float:
        import numpy as np

        tp, fp = np.cumsum(positive), np.cumsum(negative)
        P = tp[-1] if len(tp) else 0.0
        if P <= 0:
            return math.nan
        flagged = tp + fp
        precision = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
        return float(np.sum(positive * precision) / P)

    def auc(self, weights: np.ndarray | None = None) -> float:
        return self.auc_from(*self.blocks(weights))

    def average_precision(self, weights: np.ndarray | None = None) -> float:
        return self.ap_from(*self.blocks(weights))


def brier(scores: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    import numpy as np

    sq = (np.asarray(scores, dtype=float) - np.asarray(y, dtype=float)) ** 2
    if weights is None:
        return float(sq.mean())
    return float(np.dot(weights, sq) / weights.sum())


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def bootstrap_metrics(
    methods: dict[str, np.ndarray],
    y: np.ndarray,
    *,
    replicates: int,
    seed: int,
    reference: str | None = None,
    rankings: tuple[str, ...] = (),
) -> tuple[dict[str, dict[str, Interval]], dict[str, Interval]]:
    """ROC AUC, PR AUC (average precision) and Brier score for each method, with percentile
    bootstrap 95% intervals from the same resamples (so differences are paired); and the AUC
    difference of *reference* over every other method. Methods named in *rankings* give an
    order, not probabilities, so they get no Brier score."""
    import numpy as np

    n = len(y)
    ranked = {name: Ranked(s, y) for name, s in methods.items()}
    point: dict[str, dict[str, float]] = {}
    for name, r in ranked.items():
        pos, neg = r.blocks()
        point[name] = {
            "auc": r.auc_from(pos, neg),
            "pr_auc": r.ap_from(pos, neg),
            "brier": math.nan if name in rankings else brier(methods[name], y),
        }
    draws: dict[str, dict[str, list[float]]] = {m: {"auc": [], "pr_auc": [], "brier": []} for m in methods}
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        for name, r in ranked.items():
            pos, neg = r.blocks(w)
            draws[name]["auc"].append(r.auc_from(pos, neg))
            draws[name]["pr_auc"].append(r.ap_from(pos, neg))
            if name not in rankings:
                draws[name]["brier"].append(brier(methods[name], y, w))

    def interval(estimate: float, values: list[float]) -> Interval:
        arr = np.asarray(values, dtype=float)
        arr = arr[np.isfinite(arr)]
        if not len(arr):
            return Interval(estimate, math.nan, math.nan)
        low, high = np.percentile(arr, [2.5, 97.5])
        return Interval(estimate, float(low), float(high))

    out = {
        name: {metric: interval(point[name][metric], draws[name][metric]) for metric in point[name]}
        for name in methods
    }
    gains: dict[str, Interval] = {}
    if reference is not None:
        for name in methods:
            if name == reference:
                continue
            diff = np.asarray(draws[reference]["auc"]) - np.asarray(draws[name]["auc"])
            gains[name] = interval(point[reference]["auc"] - point[name]["auc"], list(diff))
    return out, gains


def review_order(scores: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Record indices from highest to lowest score; equal scores in a fixed random order."""
    import numpy as np

    return np.lexsort((tiebreak, -np.asarray(scores, dtype=float)))


def top_share(order: np.ndarray, share: float) -> np.ndarray:
    """A boolean mask of the first ceil(share * n) records of *order*."""
    import numpy as np

    n = len(order)
    k = min(n, int(math.ceil(share * n - 1e-9)))
    flags = np.zeros(n, dtype=bool)
    flags[order[:k]] = True
    return flags


def wilson(k: Any, n: Any) -> tuple[Any, Any]:
    """Wilson 95% intervals for k successes in n (arrays welcome; NaN where n is 0)."""
    import numpy as np

    from expedition.steps._stats import wilson_interval

    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    low, high = wilson_interval(k, np.where(n > 0, n, 1.0), 0.95)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def calibration_fit(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Calibration slope (logistic regression of the outcome on the logit of the risk) and
    calibration-in-the-large (the intercept with the logit as an offset), with 95% intervals."""
    import numpy as np
    import statsmodels.api as sm

    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    lp = np.log(p / (1 - p))
    y = np.asarray(y, dtype=float)
    if np.ptp(lp) < 1e-9 or y.min() == y.max():
        return {}
    slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    s_low, s_high = slope.conf_int()[1]
    i_low, i_high = citl.conf_int()[0]
    return {
        "calibration_slope": float(slope.params[1]),
        "calibration_slope_low": float(s_low),
        "calibration_slope_high": float(s_high),
        "calibration_intercept": float(citl.params[0]),
        "calibration_intercept_low": float(i_low),
        "calibration_intercept_high": float(i_high),
    }


def single_feature_auc(values: pl.Series, y: np.ndarray, kind: str) -> float:
    """How well one feature alone ranks the outcome (0.5 = not at all, 1 = perfectly).

    Numbers rank by their value (either direction, missing values at the median); categories rank
    by their own outcome rate in the same data.
    """
    import numpy as np
    import polars as pl

    if kind == "categorical":
        frame = pl.DataFrame({"x": values.cast(pl.String).fill_null(MISSING_CATEGORY), "y": y})
        rates = frame.group_by("x").agg(pl.col("y").mean().alias("r"))
        x = frame.join(rates, on="x", how="left")["r"].to_numpy()
    else:
        x = values.cast(pl.Float64).to_numpy()
        if np.all(np.isnan(x)):
            return math.nan
        x = np.where(np.isnan(x), np.nanmedian(x), x)
    auc = Ranked(x, y).auc()
    if kind != "categorical" and np.isfinite(auc):
        auc = max(auc, 1.0 - auc)
    return auc


def single_feature_concordance(values: pl.Series, y: np.ndarray, kind: str, *, limit: int = 2000,
                               seed: int = 0) -> float:
    """How well one feature alone ranks a numeric outcome: the concordance index (the share of
    pairs of records with different outcomes that the feature puts in the same order, ties
    counting half; for a yes/no outcome it is the AUC). Numbers rank either way, missing values
    at the median; categories rank by their own mean outcome. Computed over every pair of a
    random sample of at most *limit* records."""
    import numpy as np
    import polars as pl

    y = np.asarray(y, dtype=float)
    if kind == "categorical":
        frame = pl.DataFrame({"x": values.cast(pl.String).fill_null(MISSING_CATEGORY), "y": y})
        means = frame.group_by("x").agg(pl.col("y").mean().alias("r"))
        x = frame.join(means, on="x", how="left", maintain_order="left")["r"].to_numpy()
    else:
        x = values.cast(pl.Float64).to_numpy()
        if np.all(np.isnan(x)):
            return math.nan
        x = np.where(np.isnan(x), np.nanmedian(x), x)
    if len(y) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(y), size=limit, replace=False))
        x, y = x[rows], y[rows]
    dx = np.sign(x[:, None] - x[None, :]).astype(np.int8)
    dy = np.sign(y[:, None] - y[None, :]).astype(np.int8)
    pairs = int(np.count_nonzero(dy))
    if not pairs:
        return math.nan
    agree = int(np.count_nonzero((dx * dy) > 0))
    tied = int(np.count_nonzero((dx == 0) & (dy != 0)))
    c = (agree + 0.5 * tied) / pairs
    return c if kind == "categorical" else max(c, 1.0 - c)


# --------------------------------------------------------------------------- leakage


def leak_check(values: pl.Series, y: np.ndarray, kind: str, threshold: float, *, binary: bool = True,
               seed: int = 0) -> tuple[float, str | None]:
    """A feature's score on its own (the AUC for a yes/no outcome, the concordance index for a
    numeric one) and, when it is at least *threshold*, why the feature is flagged as a leak."""
    import numpy as np

    if binary:
        score = single_feature_auc(values, y, kind)
    else:
        score = single_feature_concordance(values, y, kind, seed=seed)
    if np.isfinite(score) and score >= threshold:
        measure = "AUC" if binary else "concordance"
        return score, (f"predicts the outcome almost perfectly on its own ({measure} {score:.2f}): "
                       "probably recorded after the outcome")
    return score, None


def leakage_caveat(leaky: list[tuple[str, str]], keep_leaky: bool) -> str:
    """The caveat for the features the leakage check flagged: (name, why) pairs."""
    action = "kept, as keep_leaky is set — the results below are not to be trusted" if keep_leaky else "left out"
    return (
        "Leakage check: "
        + "; ".join(f"{c} {why}" for c, why in leaky)
        + f". {'It was' if len(leaky) == 1 else 'They were'} {action}. A feature recorded after "
        "the prediction point makes a model look far better than it can be in use."
    )


def leakage_headline(leaky: list[tuple[str, str]], keep_leaky: bool, *, what: str = "the model") -> Any:
    """The headline for the features the leakage check flagged (their names in a slot)."""
    from expedition.finding import say

    they = len(leaky) != 1
    return say(
        "The leakage check flagged {names}: " + ("they" if they else "it") + f" would have made {what} "
        "look far better than it can be, and " + ("were" if they else "was") + " "
        + ("kept on request, so the results are not to be trusted." if keep_leaky else "left out."),
        names=", ".join(c for c, _ in leaky),
    )


# --------------------------------------------------------------------------- fairness


def fairness_frame(
    y: np.ndarray,
    scores: np.ndarray,
    flags: np.ndarray,
    groups: dict[str, np.ndarray],
    *,
    min_count: int,
) -> pl.DataFrame:
    """Per protected group: counts, selection rate, true- and false-positive rates, precision,
    AUC, observed and mean predicted risk, and ratios against the largest group.

    The rates are the definitions of fairlearn's MetricFrame metrics (selection_rate,
    true_positive_rate, false_positive_rate, precision), computed from the counts of one Polars
    group-by — the tests check them against MetricFrame, which took half a minute on 250,000
    records. A group with fewer than *min_count* records is marked too small to judge and given
    no rates; a rate whose own denominator (with the outcome, without it, or flagged) is below
    *min_count* is left empty for the same reason.
    """
    import numpy as np
    import polars as pl

    y = np.asarray(y).astype(bool)
    flags = np.asarray(flags).astype(bool)
    scores = np.asarray(scores, dtype=float)
    rows: list[dict[str, Any]] = []
    for characteristic, values in groups.items():
        values = np.asarray(values).astype(str)
        counts = (
            pl.DataFrame({"group": values, "y": y, "f": flags, "s": scores})
            .group_by("group")
            .agg(
                pl.len().cast(pl.Int64).alias("n"),
                pl.col("y").sum().cast(pl.Int64).alias("positives"),
                pl.col("f").sum().cast(pl.Int64).alias("flagged"),
                (pl.col("y") & pl.col("f")).sum().cast(pl.Int64).alias("caught"),
                pl.col("s").mean().alias("mean_predicted"),
            )
            .sort("group")
        )
        for row in counts.iter_rows(named=True):
            n, pos, flagged, caught = row["n"], row["positives"], row["flagged"], row["caught"]
            member = values == row["group"]
            rows.append(
                {
                    "characteristic": characteristic,
                    "group": row["group"],
                    "n": n,
                    "positives": pos,
                    "flagged": flagged,
                    "caught": caught,
                    "selection_rate": flagged / n,
                    "tpr": caught / pos if pos else math.nan,
                    "fpr": (flagged - caught) / (n - pos) if n - pos else math.nan,
                    "precision": caught / flagged if flagged else math.nan,
                    "observed_rate": pos / n,
                    "mean_predicted": row["mean_predicted"],
                    "auc": Ranked(scores[member], y[member]).auc(),
                }
            )
    out = []
    for characteristic in groups:
        members = sorted(
            (row for row in rows if row["characteristic"] == characteristic),
            key=lambda row: (-row["n"], row["group"]),
        )
        judged = []
        for row in members:
            negatives = row["n"] - row["positives"]
            notes = []
            if row["n"] < min_count:
                for key in ("selection_rate", "tpr", "fpr", "precision", "observed_rate", "mean_predicted", "auc"):
                    row[key] = None
                notes.append(f"too small to judge (fewer than {min_count} records)")
            else:
                if row["positives"] < min_count:
                    row["tpr"] = row["auc"] = None
                    notes.append("too few with the outcome to judge the true-positive rate")
                if negatives < min_count:
                    row["fpr"] = row["auc"] = None
                    notes.append("too few without the outcome to judge the false-positive rate")
                if row["flagged"] < min_count:
                    row["precision"] = None
                    notes.append("too few flagged to judge precision")
                judged.append(row)
            row["observed_to_predicted"] = (
                row["observed_rate"] / row["mean_predicted"]
                if row["observed_rate"] is not None and row["mean_predicted"]
                else None
            )
            row["note"] = "; ".join(notes)
        reference = judged[0] if judged else None
        for row in members:
            row["reference_group"] = reference["group"] if reference else ""
            for metric in ("selection_rate", "tpr", "fpr", "precision"):
                base = reference[metric] if reference else None
                value = row[metric]
                row[f"{metric}_ratio"] = (
                    value / base if value is not None and base not in (None, 0) and not _nan(base) and not _nan(value) else None
                )
            out.append(row)
    schema = {
        "characteristic": pl.String,
        "group": pl.String,
        "n": pl.Int64,
        "positives": pl.Int64,
        "flagged": pl.Int64,
        "caught": pl.Int64,
        "selection_rate": pl.Float64,
        "tpr": pl.Float64,
        "fpr": pl.Float64,
        "precision": pl.Float64,
        "observed_rate": pl.Float64,
        "mean_predicted": pl.Float64,
        "observed_to_predicted": pl.Float64,
        "auc": pl.Float64,
        "reference_group": pl.String,
        "selection_rate_ratio": pl.Float64,
        "tpr_ratio": pl.Float64,
        "fpr_ratio": pl.Float64,
        "precision_ratio": pl.Float64,
        "note": pl.String,
    }
    frame = pl.DataFrame([{k: row.get(k) for k in schema} for row in out], schema=schema)
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


FAIRNESS_KINDS = {
    "characteristic": "label",
    "group": "label",
    "n": "count",
    "positives": "count",
    "flagged": "count",
    "caught": "count",
    "selection_rate": "rate",
    "tpr": "rate",
    "fpr": "rate",
    "precision": "rate",
    "observed_rate": "rate",
    "mean_predicted": "statistic",
    "observed_to_predicted": "statistic",
    "auc": "statistic",
    "reference_group": "text",
    "selection_rate_ratio": "statistic",
    "tpr_ratio": "statistic",
    "fpr_ratio": "statistic",
    "precision_ratio": "statistic",
    "note": "text",
}
FAIRNESS_DENOMINATORS: dict[str, list[str]] = {
    "selection_rate": ["flagged", "n"],
    "tpr": ["caught", "positives"],
    "fpr": ["n", "positives", "flagged", "caught"],
    "precision": ["caught", "flagged"],
    "observed_rate": ["positives", "n"],
    "mean_predicted": ["n"],
    "observed_to_predicted": ["positives", "n"],
    "auc": ["positives", "n"],
    "selection_rate_ratio": ["flagged", "n"],
    "tpr_ratio": ["caught", "positives"],
    "fpr_ratio": ["n", "positives", "flagged", "caught"],
    "precision_ratio": ["caught", "flagged"],
}


# --------------------------------------------------------------------------- the saved model


@dataclass
class RiskModel:
    """A fitted risk model with everything needed to apply it again, and to know when not to.

    Saved by the `risk` step in its finding's artifacts (``.expedition/findings/<id>/artifacts/
    model.skops``) and applied by `expedition score`.
    """

    pipeline: Any
    kind: str
    spec: FeatureSpec
    outcome: str
    outcome_value: str
    id_column: str | None
    tier_names: list[str]
    tier_thresholds: list[float]
    params: dict[str, Any]
    training: dict[str, Any]
    versions: dict[str, str]
    step_version: str
    format: int = MODEL_FORMAT

    @property
    def columns(self) -> list[str]:
        return self.spec.inputs

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Predicted risk (0–1) for every row of *frame*."""
        with thread_limit(frame.height):
            return self.pipeline.predict_proba(prepare(frame, self.spec))[:, 1]

    def tiers(self, scores: np.ndarray) -> list[str]:
        import numpy as np

        index = np.searchsorted(np.asarray(self.tier_thresholds), scores, side="right")
        return [self.tier_names[i] for i in index]


def tier_names(cuts: int) -> list[str]:
    if cuts == 2:
        return ["low", "medium", "high"]
    if cuts == 1:
        return ["lower", "higher"]
    return [f"tier {i + 1}" + (" (lowest)" if i == 0 else " (highest)" if i == cuts else "") for i in range(cuts + 1)]


def model_versions() -> dict[str, str]:
    from expedition.manifest import package_versions

    return package_versions(extra=("fairlearn", "skops"))


def major_minor(version: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", version)[:2]
    return tuple(int(p) for p in parts)


def incompatibilities(model: Any) -> list[str]:
    """Why *model* cannot be applied here (an empty list when it can)."""
    if not isinstance(model, RiskModel):
        return [f"the file holds a {type(model).__name__}, not a risk model made by expedition"]
    problems = []
    if getattr(model, "format", None) != MODEL_FORMAT:
        problems.append(
            f"it is a model of format {getattr(model, 'format', '?')}; this version of expedition "
            f"reads format {MODEL_FORMAT}"
        )
    here = model_versions()
    for package, strict in (("scikit-learn", "minor"), ("numpy", "major"), ("expedition", "minor")):
        then, now = model.versions.get(package), here.get(package)
        if not then or not now:
            continue
        a, b = major_minor(then), major_minor(now)
        if (a[:1] != b[:1]) if strict == "major" else (a != b):
            problems.append(f"it was made with {package} {then}; this environment has {package} {now}")
    return problems
