"""`drivers`: which variables move an outcome, and by how much — with uncertainty."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from expedition.errors import StepError
from expedition.steps import (
    RECORDED,
    Chart,
    Count,
    Finding,
    Step,
    StepContext,
    StepParams,
    Table,
    require_columns,
    say,
)
from expedition.steps._columns import categorical_expr, choose_variables, no_rows, top_levels
from expedition.steps._plot import PALETTE, Drawing, drawing, new_figure
from expedition.steps._text import fmt_num, fmt_p, fmt_pct, join_names


class DriversParams(StepParams):
    outcome: str = Field(description="the outcome column: binary (yes/no, 1/0) or numeric")
    outcome_value: str | None = Field(
        None, description="for a binary outcome, the value that counts as 'yes' (default: 1/true/yes)"
    )
    outcome_type: Literal["auto", "binary", "numeric"] = Field(
        "auto", description="binary or numeric; auto: numeric when the column holds more than two numbers"
    )
    variables: list[str] | None = Field(
        None,
        description="candidate drivers; default: every numeric and categorical column except the "
        "outcome, identifiers, free text, dates, coordinates and personal data",
    )
    exclude: list[str] = Field(default_factory=list, description="columns never to use as drivers")
    test_size: float = Field(0.2, ge=0.1, le=0.5, description="share of records held out to measure importance")
    max_rows: int = Field(
        100_000, ge=500, le=5_000_000,
        description="models are fitted on a random sample of at most this many records",
    )
    repeats: int = Field(3, ge=1, le=50, description="shuffles per variable for permutation importance")
    bootstrap: int = Field(200, ge=0, le=2000, description="bootstrap resamples of the held-out records for intervals")
    max_categories: int = Field(15, ge=2, le=100, description="categories kept per variable; the rest become 'Other'")
    leakage_auc: float = Field(
        0.9, gt=0.5, le=1.0,
        description="a variable that alone ranks the outcome with at least this AUC (the concordance "
        "index for a numeric outcome) is flagged as a leak and left out",
    )
    keep_leaky: bool = Field(False, description="keep flagged variables among the drivers (not advised)")

    @field_validator("variables")
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one variable, or leave it out to use every column")
        return value


@dataclass
class Design:
    """The fitting sample: numbers (NaN where missing) and category codes, and the outcome."""

    numeric: list[str]
    categorical: list[str]
    levels: dict[str, list[str]]
    x: Any  # float array, categoricals as codes
    y: Any


class Drivers(Step):
    """Ranks candidate drivers of an outcome by how much a model's accuracy depends on them, and
    estimates the direction and size of each association with a regression.

    Importance: a gradient-boosted tree model (scikit-learn's HistGradientBoosting, which handles
    categories and missing values itself; shallow trees, a slow learning rate and early stopping
    on a tenth of the training records keep it from over-fitting) is fitted on a training split of
    the records (at most max_rows, sampled at random). On the held-out records, each variable's values are shuffled
    (repeats times) and the rise in prediction error is measured — log loss for a binary outcome,
    squared error for a numeric one — as a percentage of the error with the real values
    (permutation importance). Its 95% interval comes from bootstrap resamples of the held-out
    records (the model is not refitted).

    Direction and size: a logistic (binary outcome) or linear (numeric outcome) regression with
    statsmodels on all sampled records. Numeric drivers are standardised, so each coefficient is
    the change per standard deviation (an odds ratio for a binary outcome); each category is
    compared with the most common category of its variable. Confidence intervals are Wald
    intervals; p-values are also given adjusted by Holm's method across the terms. Whether a
    variable is associated with the outcome at all, given the others, is judged by a Wald test of
    all its terms together (chi-square; F for a linear model), Holm-adjusted across the variables.
    Missing numbers take the median in the regression. A category with fewer records than the
    disclosure threshold gets no coefficient of its own: the regression counts it with its
    variable's most common category, as an estimate for so few records would describe them.

    Leakage check: before any model is fitted, each variable alone ranks the outcome (the AUC
    for a binary outcome, the concordance index for a numeric one, as the risk step does); one at
    or above leakage_auc (a copy of the outcome, or something recorded after it) is flagged and
    left out, or kept with a warning when keep_leaky is set. When the regression cannot be fitted
    or does not converge, the finding says so and publishes no coefficients.

    These are associations in observational data, not effects of changing a variable: a driver
    may stand in for something not measured.
    """

    name = "drivers"
    summary = "Key-driver analysis: which variables are associated with an outcome, with intervals."
    version = "3"
    Params = DriversParams
    outputs = {
        "importance": "permutation importance of each variable on held-out records, with a "
        "bootstrap 95% interval and rank",
        "coefficients": "standardised regression coefficients (odds ratios for a binary outcome) "
        "with 95% CIs and p-values (left out, with a headline saying why, when the regression "
        "cannot be fitted or does not converge)",
        "model": "held-out performance of the importance model (AUC or R-squared) with 95% CI",
        "leakage": "each variable's AUC (concordance for a numeric outcome) on its own, and whether "
        "the leakage check flagged it",
        "figure importance": "permutation importance with 95% intervals",
        "figure coefficients": "regression coefficients with 95% CIs",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.referrals import generate

        frame = generate(250, seed=13).select(
            "age", "prior_referrals", "sex", "disability", "referral_source", "rereferred_12m"
        )
        return frame.lazy(), {"outcome": "rereferred_12m", "outcome_value": "yes", "bootstrap": 20, "repeats": 2}

    @classmethod
    def recode_columns(cls, params: DriversParams, columns: list[str]) -> list[str]:
        """The candidate drivers named (their rare categories are combined before the step
        runs); the step groups a variable's rare categories itself when none are named."""
        skip = {params.outcome, *params.exclude}
        return [c for c in params.variables or [] if c in columns and c not in skip]

    def run(self, frame: Any, params: DriversParams, ctx: StepContext) -> Finding:
        import numpy as np
        import polars as pl

        lazy = frame.lazy()  # a LazyFrame is its own lazy frame
        schema = lazy.collect_schema()
        require_columns(schema.names(), [params.outcome], param="outcome", step=self.name)
        ctx.report(0.02, "choosing variables")
        chosen = choose_variables(
            lazy, step=self.name, ctx=ctx, variables=params.variables,
            exclude=[params.outcome, *params.exclude], max_levels=params.max_categories,
        )
        if chosen.rows == 0:
            raise no_rows(self.name)
        if not chosen.all:
            raise StepError(
                f"step '{self.name}': no column can be used as a driver of {params.outcome!r}",
                "name the candidate drivers with variables: [...]; " + " ".join(chosen.caveats),
            )
        # counts of records go in slots: the shared chooser's caveat about non-finite numbers
        # quotes one as text, so it is said again here with the count in a slot
        caveats: list[Any] = [c for c in chosen.caveats if "infinite or not-a-number" not in c]
        caveats += _nonfinite_caveats(lazy, chosen.numeric)
        rare = max(10, ctx.min_count)
        levels = {c: top_levels(lazy, c, params.max_categories - 1, min_count=rare) for c in chosen.categorical}
        merged = [c for c in chosen.categorical if len(levels[c]) < chosen.levels.get(c, 0)]
        if merged:
            caveats.append(
                f"Categories with fewer than {rare} records are grouped as 'Other' in "
                f"{join_names(merged)}, so that no estimate rests on a handful of records."
            )
        data = lazy.select(
            pl.col(params.outcome).alias("__outcome__"),
            *[pl.col(c).cast(pl.Float64) for c in chosen.numeric],
            *[categorical_expr(c, levels[c]).fill_null("(missing)") for c in chosen.categorical],
        ).collect()
        ctx.report(0.1, "preparing the outcome")
        y, kind, label = _outcome(data["__outcome__"], params)
        known = ~np.isnan(y)
        if (~known).sum():
            caveats.append(say(
                "{n} records with no value for {outcome} are left out.",
                n=Count(int((~known).sum()), {params.outcome: None}), outcome=params.outcome,
                fallback=say("Some records with no value for {outcome} are left out.", outcome=params.outcome),
            ))
        data = data.filter(pl.Series(known))
        y = y[known]
        n_all = len(y)
        if kind == "binary":
            positives = int(y.sum())
            if positives == 0 or positives == n_all:
                raise StepError(
                    f"step '{self.name}': every record has the same value of {params.outcome!r}, so "
                    "nothing can be associated with it",
                    "check the outcome column and outcome_value, or the rows selected",
                )
            if min(positives, n_all - positives) < 20:
                raise StepError(
                    f"step '{self.name}': only {min(positives, n_all - positives)} records are in "
                    f"the smaller outcome class of {params.outcome!r}; at least 20 are needed",
                    "use more data, or a more common outcome",
                )
        elif float(np.std(y)) == 0.0:
            raise StepError(
                f"step '{self.name}': {params.outcome!r} takes one value only",
                "choose an outcome that varies",
            )
        if n_all < 100:
            raise StepError(
                f"step '{self.name}': {n_all} records are too few for a key-driver analysis",
                "use at least 100 records (several hundred for useful intervals)",
            )

        rng = np.random.default_rng(ctx.seed)
        # the records analysed: those with the outcome recorded (a random sample of them when
        # there are more than max_rows, a population of its own)
        analysed = {params.outcome: RECORDED}
        records = Count(n_all, analysed)
        fitted_on, population = records, ""
        if n_all > params.max_rows:
            rows = np.sort(rng.choice(n_all, size=params.max_rows, replace=False))
            data, y = data[rows], y[rows]
            population = "sample"
            fitted_on = Count(params.max_rows, analysed, population)
            caveats.append(say(
                "The models were fitted on a random sample of {k} of the {n} records.",
                k=fitted_on, n=records,
                fallback="The models were fitted on a random sample of the records.",
            ))
        design = _design(data, chosen.numeric, chosen.categorical, y)

        ctx.report(0.15, "checking for leakage")
        design, leaky, leakage_table = _leakage(design, data, kind, params, ctx)
        if leaky:
            from expedition.steps._models import leakage_caveat

            caveats.append(leakage_caveat(leaky, params.keep_leaky))

        ctx.report(0.2, "fitting the importance model")
        importance, performance = _importance(design, kind, params, ctx)
        ctx.report(0.75, "fitting the regression")
        coefficients, tests, coef_caveats, failure = _regression(design, kind, ctx.min_count)
        caveats.extend(coef_caveats)
        _attach_tests(importance, tests)

        importance_table = _importance_table(importance)
        coef_table = _coefficients_table(coefficients, kind)
        model_table = _model_table(performance, kind)

        headlines = _headlines(importance, coefficients, performance, kind, params.outcome, label, len(y))
        if failure is not None:
            # said where a reader looks first, and no empty table of coefficients is published
            headlines.insert(1, say(
                "The regression of {outcome} on the variables " + failure + ", so no coefficients are "
                "reported: the direction of each association is not estimated, and the variables are "
                "ranked by permutation importance alone.",
                outcome=params.outcome,
            ))
        if leaky:
            from expedition.steps._models import leakage_headline

            line = leakage_headline(leaky, params.keep_leaky, what="the prediction model")
            if params.keep_leaky:
                headlines.insert(0, line)
            else:
                headlines.append(line)
        caveats.append(
            "These are associations in observational data: a variable that drives predictions is "
            "not shown to cause the outcome, and changing it may not change the outcome."
        )
        caveats.append(
            "Permutation importance shares credit between related variables: when two variables "
            "carry the same information, each can look less important than it is."
        )
        figures: dict[str, Chart] = {}
        if importance_table.frame.height:
            figures["importance"] = Chart(
                f"Permutation importance for {params.outcome}, with 95% intervals",
                "drivers.importance",
                "importance",
                alt="Horizontal bars of how much the held-out prediction error rises when each variable is "
                "shuffled, with 95% bootstrap intervals; orange bars mark variables whose association "
                "with the outcome is significant in the regression after adjustment.",
                options={"outcome": params.outcome},
            )
        if coef_table.frame.height:
            figures["coefficients"] = Chart(
                f"Regression coefficients for {params.outcome}, with 95% confidence intervals",
                "drivers.coefficients",
                "coefficients",
                alt="Dot-and-whisker plot of each regression term with its 95% confidence interval; orange "
                "marks terms whose Holm-adjusted p-value is below 0.05; the dashed line marks no association.",
                options={"outcome": params.outcome, "kind": kind},
            )

        # the importance model's random split: subsets named by how they were drawn
        held_out, trained_on = (int(performance.pop(k)) for k in ("held_out", "trained_on"))
        split = f"split {params.test_size:g}" + (f" of a sample of {params.max_rows}" if population else "")
        metrics: dict[str, Any] = {
            "records": records,
            "fitted_on": fitted_on,
            "held_out": Count(held_out, population=f"held out, {split}"),
            "trained_on": Count(trained_on, population=f"trained on, {split}"),
            **{k: v for k, v in performance.items() if isinstance(v, float)},
        }
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title=f"What is associated with {params.outcome}",
            headlines=headlines,
            tables={"importance": importance_table, **({"coefficients": coef_table} if coef_table.frame.height else {}),
                    "model": model_table, "leakage": leakage_table},
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- data


def _outcome(series: Any, params: DriversParams):
    """(y as floats with NaN for missing, 'binary' or 'numeric', label of the positive value)."""
    import numpy as np
    import polars as pl

    from expedition.steps._columns import binary_outcome

    distinct = series.drop_nulls().n_unique()
    numeric = series.dtype.is_numeric() and series.dtype != pl.Boolean
    kind = params.outcome_type
    if kind == "auto":
        kind = "numeric" if numeric and distinct > 2 else "binary"
    if kind == "numeric":
        if not numeric:
            raise StepError(
                f"step 'drivers': outcome {params.outcome!r} is not numeric",
                "set outcome_type: binary (with outcome_value) for a yes/no outcome",
            )
        values = series.cast(pl.Float64).to_numpy().astype(float)
        return np.where(np.isfinite(values), values, np.nan), "numeric", ""
    if distinct > 2 and params.outcome_value is None:
        raise StepError(
            f"step 'drivers': outcome {params.outcome!r} has {distinct} values; a binary outcome has two",
            "set outcome_value to the value that counts as 'yes' (the rest count as 'no'), or "
            "outcome_type: numeric",
        )
    if distinct > 2:
        text = series.cast(pl.String)
        if params.outcome_value not in set(text.drop_nulls().unique().to_list()):
            raise StepError(
                f"outcome_value {params.outcome_value!r} does not occur in column {params.outcome!r}",
                "check the value's spelling and case",
            )
        y = (text == params.outcome_value).cast(pl.Float64).to_numpy()
        y = np.where(text.is_null().to_numpy(), np.nan, y)
        return y, "binary", params.outcome_value
    if distinct < 2:
        raise StepError(
            f"step 'drivers': every record has the same value of {params.outcome!r}, so nothing "
            "can be associated with it",
            "check the outcome column, or the rows selected",
        )
    y, label = binary_outcome(series, params.outcome_value, params.outcome)
    return y.cast(pl.Float64).fill_null(float("nan")).to_numpy(), "binary", label


def _design(data: Any, numeric: list[str], categorical: list[str], y: Any) -> Design:
    import numpy as np
    import polars as pl

    columns = []
    for c in numeric:
        values = data[c].fill_null(float("nan")).to_numpy().astype(float)
        columns.append(np.where(np.isfinite(values), values, np.nan))
    levels = {}
    for c in categorical:
        names = sorted(data[c].unique().to_list())
        levels[c] = names
        codes = data[c].replace_strict(names, list(range(len(names))), return_dtype=pl.Int32)
        columns.append(codes.to_numpy().astype(float))
    x = np.column_stack(columns) if columns else np.zeros((len(y), 0))
    return Design(numeric, categorical, levels, x, np.asarray(y, dtype=float))


# --------------------------------------------------------------------------- leakage


def _leakage(design: Design, data: Any, kind: str, params: DriversParams, ctx: StepContext):
    """Score each variable alone against the outcome with the risk step's leakage check; the
    design without the flagged variables (unless keep_leaky), the (variable, why) pairs and
    the table of scores."""
    import numpy as np
    import polars as pl

    from expedition.steps._models import leak_check

    names = [*design.numeric, *design.categorical]
    rows, leaky = [], []
    for name in names:
        var_kind = "numeric" if name in design.numeric else "categorical"
        score, why = leak_check(data[name], design.y, var_kind, params.leakage_auc,
                                binary=kind == "binary", seed=ctx.seed)
        if why is not None:
            leaky.append((name, why))
        rows.append({"variable": name, "single_variable_score": score,
                     "flagged": "yes" if why is not None else "no",
                     "used": "no" if why is not None and not params.keep_leaky else "yes"})
    measure = "AUC" if kind == "binary" else "concordance index"
    table = Table(
        pl.DataFrame(rows, schema={"variable": pl.String, "single_variable_score": pl.Float64,
                                   "flagged": pl.String, "used": pl.String}).with_columns(
            pl.col(pl.Float64).fill_nan(None)),
        {"variable": "label", "single_variable_score": "statistic", "flagged": "label", "used": "label"},
        title="The leakage check",
        description=f"How well each variable alone ranks the outcome ({measure}; 0.5 is chance, 1 is "
        f"perfect), whether it reaches leakage_auc ({params.leakage_auc:g}) and is flagged as a probable "
        "leak (a copy of the outcome, or recorded after it), and whether the models use it.",
        dimensions=[],
    )
    dropped = [] if params.keep_leaky else [name for name, _ in leaky]
    if dropped and len(dropped) == len(names):
        raise StepError(
            f"step 'drivers': every candidate driver of {params.outcome!r} was flagged by the leakage check "
            f"({', '.join(dropped)}): each alone predicts the outcome almost perfectly",
            "leave these columns out (exclude: [...]) and name other drivers, raise leakage_auc, or set "
            "keep_leaky: true to analyse them anyway (not advised)",
        )
    if not dropped:
        return design, leaky, table
    keep = [j for j, name in enumerate(names) if name not in dropped]
    return Design(
        numeric=[c for c in design.numeric if c not in dropped],
        categorical=[c for c in design.categorical if c not in dropped],
        levels={c: v for c, v in design.levels.items() if c not in dropped},
        x=design.x[:, keep] if keep else np.zeros((len(design.y), 0)),
        y=design.y,
    ), leaky, table


# --------------------------------------------------------------------------- importance


def _importance(design: Design, kind: str, params: DriversParams, ctx: StepContext):
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import train_test_split

    from expedition.steps._parallel import fitting_threads

    x, y = design.x, design.y
    index = np.arange(len(y))
    train, test = train_test_split(
        index, test_size=params.test_size, random_state=ctx.seed,
        stratify=y if kind == "binary" else None,
    )
    categorical = [False] * len(design.numeric) + [True] * len(design.categorical)
    common = dict(
        categorical_features=categorical if any(categorical) else None,
        random_state=ctx.seed,
        max_iter=300,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=True,
        n_iter_no_change=20,
    )
    model = HistGradientBoostingClassifier(**common) if kind == "binary" else HistGradientBoostingRegressor(**common)
    with fitting_threads():
        model.fit(x[train], y[train])
    x_test, y_test = x[test], y[test]

    def losses(matrix):
        with fitting_threads():
            if kind == "binary":
                p = np.clip(model.predict_proba(matrix)[:, 1], 1e-12, 1 - 1e-12)
                return -(y_test * np.log(p) + (1 - y_test) * np.log(1 - p)), p
            pred = model.predict(matrix)
        return (y_test - pred) ** 2, pred

    base, prediction = losses(x_test)
    rng = np.random.default_rng(ctx.seed + 7)
    names = [*design.numeric, *design.categorical]
    deltas = np.zeros((len(y_test), len(names)))
    for j, name in enumerate(names):
        ctx.report(0.25 + 0.45 * j / max(len(names), 1), f"shuffling {name}")
        shuffled = x_test.copy()
        total = np.zeros(len(y_test))
        for _ in range(params.repeats):
            shuffled[:, j] = x_test[rng.permutation(len(y_test)), j]
            total += losses(shuffled)[0]
        deltas[:, j] = total / params.repeats - base
    point = deltas.mean(axis=0) / base.mean() * 100
    boot = None
    if params.bootstrap:
        weights = np.stack(
            [np.bincount(rng.integers(0, len(y_test), len(y_test)), minlength=len(y_test)) for _ in range(params.bootstrap)]
        ).astype(float)
        boot = (weights @ deltas) / (weights @ base)[:, None] * 100
    rows = []
    for j, name in enumerate(names):
        low = float(np.quantile(boot[:, j], 0.025)) if boot is not None else math.nan
        high = float(np.quantile(boot[:, j], 0.975)) if boot is not None else math.nan
        rows.append({"variable": name, "kind": "numeric" if j < len(design.numeric) else "categorical",
                     "importance": float(point[j]), "ci_low": low, "ci_high": high})
    rows.sort(key=lambda r: (-r["importance"], r["variable"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank

    performance: dict[str, Any] = {"held_out": float(len(test)), "trained_on": float(len(train))}
    if kind == "binary":
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y_test, prediction))
        n1, n0 = int(y_test.sum()), int(len(y_test) - y_test.sum())
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        se = math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0))
        performance.update({"auc": auc, "auc_low": max(auc - 1.96 * se, 0.0), "auc_high": min(auc + 1.96 * se, 1.0)})
    else:
        residual = (y_test - prediction) ** 2
        spread = (y_test - y_test.mean()) ** 2
        r2 = 1 - residual.sum() / spread.sum()
        values = [r2, math.nan, math.nan]
        if params.bootstrap:
            r2s = []
            for w in weights:
                mean = (w @ y_test) / w.sum()
                r2s.append(1 - (w @ residual) / (w @ (y_test - mean) ** 2))
            values[1:] = [float(np.quantile(r2s, 0.025)), float(np.quantile(r2s, 0.975))]
        performance.update({"r2": float(values[0]), "r2_low": values[1], "r2_high": values[2]})
    return rows, performance


def _attach_tests(importance: list[dict[str, Any]], tests: dict[str, dict[str, float]]) -> None:
    """A variable is 'associated' when its regression test has a Holm-adjusted p below 0.05;
    without a regression, when its importance interval lies above zero."""
    for row in importance:
        test = tests.get(row["variable"])
        if test is not None:
            row.update(test_statistic=test["statistic"], test_df=test["df"], p_value=test["p_value"],
                       p_adjusted=test["p_adjusted"])
            row["associated"] = "yes" if test["p_adjusted"] < 0.05 else "no"
        elif tests == {} and math.isfinite(row["ci_low"]):
            row["associated"] = "yes" if row["ci_low"] > 0 else "no"
        else:
            row["associated"] = "not tested"


# --------------------------------------------------------------------------- regression


def _regression(design: Design, kind: str, min_count: int = 1) -> tuple[
        list[dict[str, Any]], dict[str, dict[str, float]], list[str], str | None]:
    """Logistic or linear regression on the standardised numbers and the categories' indicators:
    (coefficient rows, Wald tests per variable, caveats, and why the regression failed — None
    when it was fitted and converged).

    A category with fewer than *min_count* records gets no indicator of its own: it is counted
    with its variable's most common category, so no estimate rests on (or describes) so few
    records, and a lone record cannot separate the outcome and stop the fit converging."""
    import numpy as np
    import statsmodels.api as sm
    from statsmodels.stats.multitest import multipletests
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError, PerfectSeparationWarning

    caveats: list[str] = []
    columns, terms = [], []
    folded: dict[str, None] = {}
    n_numeric = len(design.numeric)
    for j, name in enumerate(design.numeric):
        values = design.x[:, j]
        missing = np.isnan(values)
        if missing.any():
            values = np.where(missing, np.nanmedian(values), values)
        sd = float(np.std(values, ddof=1))
        if sd == 0:
            continue
        z = (values - values.mean()) / sd
        if np.abs(z).max() > 10:
            caveats.append(
                f"{name} has extreme values (more than 10 standard deviations from its mean), "
                "which pull its regression coefficient; its permutation importance is less affected."
            )
        columns.append(z)
        terms.append({"variable": name, "term": f"per SD ({fmt_num(sd)})", "sd": sd})
    for j, name in enumerate(design.categorical):
        codes = design.x[:, n_numeric + j].astype(int)
        names = design.levels[name]
        counts = np.bincount(codes, minlength=len(names))
        reference = int(np.argmax(counts))
        for level, count in enumerate(counts):
            if level == reference or count == 0:
                continue
            if count < min_count:
                folded.setdefault(name, None)
                continue
            columns.append((codes == level).astype(float))
            terms.append({"variable": name, "term": f"{names[level]} vs {names[reference]}", "sd": math.nan})
    if folded:
        caveats.append(
            f"In the regression, categories with fewer than {min_count} records are counted with their "
            "variable's most common category (no estimate rests on so few records): " + join_names(list(folded)) + "."
        )
    if not columns:
        return [], {}, caveats, "could not be fitted, as no variable could enter it"
    x = np.column_stack(columns)
    # drop terms that are exact combinations of earlier ones (they have no separate coefficient)
    keep = _independent_columns(x)
    if len(keep) < x.shape[1]:
        dropped = [f"{terms[j]['variable']} ({terms[j]['term']})" for j in range(x.shape[1]) if j not in keep]
        caveats.append("Left out of the regression because other terms determine them exactly: " + join_names(dropped) + ".")
    x = x[:, keep]
    terms = [terms[j] for j in keep]
    design_matrix = sm.add_constant(x, has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow on the way to not converging
            if kind == "binary":
                fit = sm.Logit(design.y, design_matrix).fit(disp=0, maxiter=100)
                converged = bool(fit.mle_retvals.get("converged", True))
            else:
                fit = sm.OLS(design.y, design_matrix).fit()
                converged = True
    except (PerfectSeparationError, PerfectSeparationWarning, np.linalg.LinAlgError) as exc:
        if "eparation" in type(exc).__name__:
            reason = "the variables together predict the outcome perfectly (perfect separation)"
        else:
            reason = "its terms are linearly dependent"
        return [], {}, caveats, f"could not be fitted, as {reason}"
    if not converged:
        return [], {}, caveats, (
            "did not converge, as a variable or a combination of them predicts the outcome almost perfectly"
        )
    params = np.asarray(fit.params)[1:]
    ci = np.asarray(fit.conf_int())[1:]
    pvalues = np.asarray(fit.pvalues)[1:]
    if not np.all(np.isfinite(ci)) or np.any(np.abs(params) > 15 if kind == "binary" else False):
        caveats.append("Some regression coefficients are extremely large or uncertain (near-perfect "
                       "separation); read them with care.")
    adjusted = multipletests(pvalues, method="holm")[1] if len(pvalues) else []
    rows = []
    for term, b, (lo, hi), p, p_adj in zip(terms, params, ci, pvalues, adjusted):
        rows.append({"variable": term["variable"], "term": term["term"], "estimate": float(b), "ci_low": float(lo),
                     "ci_high": float(hi), "p_value": float(p), "p_adjusted": float(p_adj), "sd": term["sd"]})
    # one Wald test per variable, of all its terms together (chi-square; F for a linear model)
    tests = {}
    variables = list(dict.fromkeys(t["variable"] for t in terms))
    for variable in variables:
        positions = [i + 1 for i, t in enumerate(terms) if t["variable"] == variable]
        restriction = np.zeros((len(positions), len(terms) + 1))
        for row, position in enumerate(positions):
            restriction[row, position] = 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wald = fit.wald_test(restriction, use_f=kind != "binary", scalar=True)
        tests[variable] = {"statistic": float(np.squeeze(wald.statistic)), "df": float(len(positions)),
                           "p_value": float(np.squeeze(wald.pvalue))}
    if tests:
        holm = multipletests([t["p_value"] for t in tests.values()], method="holm")[1]
        for t, p_adj in zip(tests.values(), holm):
            t["p_adjusted"] = float(p_adj)
    return rows, tests, caveats, None


def _independent_columns(x: Any, tolerance: float = 1e-9) -> list[int]:
    """Columns of *x* (with an intercept) not in the span of the ones before them, from the Gram
    matrix: one pass over the data, then only p x p algebra."""
    import numpy as np

    full = np.column_stack([np.ones(len(x)), x])
    gram = full.T @ full
    kept = [0]
    for j in range(1, full.shape[1]):
        g = gram[np.ix_(kept, kept)]
        b = gram[kept, j]
        residual = gram[j, j] - b @ np.linalg.lstsq(g, b, rcond=None)[0]
        if residual > tolerance * max(gram[j, j], 1e-300):
            kept.append(j)
    return [j - 1 for j in kept[1:]]


# --------------------------------------------------------------------------- tables


def _importance_table(rows: list[dict[str, Any]]) -> Table:
    import polars as pl

    schema = {"rank": pl.Int64, "variable": pl.String, "kind": pl.String, "associated": pl.String,
              "importance": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
              "test_statistic": pl.Float64, "test_df": pl.Float64, "p_value": pl.Float64, "p_adjusted": pl.Float64}
    frame = pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema).with_columns(
        pl.col(pl.Float64).fill_nan(None)
    )
    kinds = {c: "statistic" for c in schema}
    kinds.update({"variable": "label", "kind": "label", "associated": "label"})
    return Table(
        frame,
        kinds,
        title="Drivers ranked by permutation importance",
        description="Rise in held-out prediction error (%) when the variable's values are "
        "shuffled, with a bootstrap 95% interval; the regression's Wald test of all the "
        "variable's terms (chi-square, or F for a numeric outcome) with its p-value raw and "
        "Holm-adjusted across variables; 'associated' is yes when the adjusted p is below 0.05.",
    )


def _coefficients_table(rows: list[dict[str, Any]], kind: str) -> Table:
    import polars as pl

    schema = {"variable": pl.String, "term": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64,
              "ci_high": pl.Float64, "p_value": pl.Float64, "p_adjusted": pl.Float64}
    frame = pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)
    kinds = {c: "statistic" for c in schema}
    kinds.update({"variable": "label", "term": "label"})
    if kind == "binary":
        frame = frame.with_columns(
            pl.col("estimate").exp().alias("odds_ratio"),
            pl.col("ci_low").exp().alias("or_low"),
            pl.col("ci_high").exp().alias("or_high"),
        )
        kinds.update({"odds_ratio": "statistic", "or_low": "statistic", "or_high": "statistic"})
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    what = (
        "log-odds (and odds ratio) of the outcome" if kind == "binary" else "change in the outcome"
    )
    return Table(
        frame,
        kinds,
        title="Regression coefficients",
        description=f"Each term's {what} per standard deviation of a numeric driver, or for a "
        "category against the variable's most common one, other terms held fixed; 95% Wald "
        "intervals; p-values raw and Holm-adjusted.",
    )


def _model_table(performance: dict[str, Any], kind: str) -> Table:
    import polars as pl

    if kind == "binary":
        row = {"measure": "AUC (held out)", "estimate": performance["auc"], "ci_low": performance["auc_low"], "ci_high": performance["auc_high"]}
    else:
        row = {"measure": "R-squared (held out)", "estimate": performance["r2"], "ci_low": performance["r2_low"], "ci_high": performance["r2_high"]}
    frame = pl.DataFrame([row], schema={"measure": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64})
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"measure": "label", "estimate": "statistic", "ci_low": "statistic", "ci_high": "statistic"},
        title="How well the variables predict the outcome",
        description="Held-out performance of the importance model with a 95% interval "
        "(Hanley–McNeil for the AUC, bootstrap for R-squared).",
    )


# --------------------------------------------------------------------------- headlines


def _headlines(importance, coefficients, performance, kind, outcome, label, n) -> list[Any]:
    """The headlines: statistics of the whole sample in the text, variable names and labels in
    slots (a name holding a brace cannot break a template)."""
    lines: list[Any] = []
    if kind == "binary":
        auc = performance["auc"]
        strength = "well" if auc >= 0.8 else "moderately" if auc >= 0.7 else "weakly"
        lines.append(say(
            "Together the variables predict {outcome} = {label} " + strength + " on held-out records "
            f"(AUC {fmt_num(auc, 2)}, 95% CI {fmt_num(performance['auc_low'], 2)} to "
            f"{fmt_num(performance['auc_high'], 2)}; 0.5 is chance).",
            outcome=outcome, label=str(label),
        ))
    else:
        lines.append(say(
            f"Together the variables explain {fmt_pct(max(performance['r2'], 0.0), 0)} of the "
            "variation in {outcome} on held-out records "
            f"(R-squared {fmt_num(performance['r2'], 2)}, 95% CI {fmt_num(performance['r2_low'], 2)} "
            f"to {fmt_num(performance['r2_high'], 2)}).",
            outcome=outcome,
        ))
    clear = [r for r in importance if r["associated"] == "yes"]
    unclear = [r["variable"] for r in importance if r["associated"] == "no"]
    by_variable: dict[str, list[dict[str, Any]]] = {}
    for c in coefficients:
        by_variable.setdefault(c["variable"], []).append(c)
    strongest = True
    for row in clear[:6]:
        test = f"adjusted {fmt_p(row['p_adjusted'])}" if row.get("p_adjusted") is not None else ""
        interval = f"95% interval {fmt_num(row['ci_low'], 2)}% to {fmt_num(row['ci_high'], 2)}%"
        importance_text = f"{fmt_num(row['importance'], 2)}%"
        direction, slots = _direction(by_variable.get(row["variable"], []), kind, outcome, label)
        slots = {**slots, "variable": row["variable"], "outcome": outcome}
        if math.isfinite(row["ci_low"]) and row["ci_low"] > 0:
            lead = "the strongest driver" if strongest else "a driver"
            strongest = False
            template = (
                "{variable} is " + lead + " associated with {outcome}: shuffling it raises the "
                f"held-out prediction error by {importance_text} ({interval}{'; ' + test if test else ''})"
            )
            lines.append(say(template + (f"; {direction}" if direction else "") + ".", **slots))
        else:
            template = (
                "{variable} is associated with {outcome} once the other variables are allowed for "
                f"({test or 'its importance interval is above zero'})"
            )
            lines.append(say(
                template + (f": {direction}" if direction else "")
                + f"; the prediction model's dependence on it is unclear (importance {importance_text}, {interval}).",
                **slots,
            ))
    if len(clear) > 6:
        lines.append(say("Also associated with {outcome}: {names}.", outcome=outcome,
                         names=join_names([r["variable"] for r in clear[6:]])))
    if unclear:
        why = (
            "once the other variables are allowed for (adjusted p ≥ 0.05)"
            if coefficients
            else "(the importance interval includes zero)"
        )
        lines.append(say(
            "No clear association with {outcome} was found for {names} " + why + "; "
            "this does not show that there is none.",
            outcome=outcome, names=join_names(unclear),
        ))
    return lines


def _direction(terms: list[dict[str, Any]], kind: str, outcome: str, label: str) -> tuple[str, dict[str, str]]:
    """The strongest significant term's association as a template fragment, and its text slots."""
    significant = [t for t in terms if t["p_adjusted"] < 0.05]
    if not significant:
        return "", {}
    term = max(significant, key=lambda t: abs(t["estimate"]))
    lo, hi = term["ci_low"], term["ci_high"]
    slots = {"d_variable": term["variable"], "d_term": term["term"].replace(" vs ", " rather than "),
             "d_outcome": outcome, "d_label": str(label)}
    if term["term"].startswith("per SD"):
        what = f"each standard deviation more ({fmt_num(term['sd'])}) is"
    else:
        what = "{d_variable} = {d_term} is"
    if kind == "binary":
        ratio = math.exp(term["estimate"])
        return (
            f"{what} associated with {fmt_num(ratio, 2)} times the odds of {{d_outcome}} = {{d_label}} "
            f"(95% CI {fmt_num(math.exp(lo), 2)} to {fmt_num(math.exp(hi), 2)}), other variables held fixed"
        ), slots
    size = fmt_num(abs(term["estimate"]), 2)
    more = "more" if term["estimate"] >= 0 else "less"
    return (
        f"{what} associated with {size} {more} {{d_outcome}} on average "
        f"(95% CI {fmt_num(lo, 2)} to {fmt_num(hi, 2)}), other variables held fixed"
    ), slots


# --------------------------------------------------------------------------- figures


def _nonfinite_caveats(lazy: Any, numeric: list[str]) -> list[Any]:
    """A caveat for each numeric driver with infinite or not-a-number values (treated as
    missing), its number of such records in a slot."""
    import polars as pl

    if not numeric:
        return []
    counts = lazy.select(
        [(~pl.col(c).cast(pl.Float64).is_finite() & pl.col(c).is_not_null()).sum().alias(c) for c in numeric]
    ).collect().row(0, named=True)
    out: list[Any] = []
    for column in numeric:
        n = int(counts[column] or 0)
        if n:
            out.append(say(
                "{column}: {n} infinite or not-a-number values are treated as missing.",
                column=column, n=Count(n, {column: "infinite or not a number"}),
                fallback=say("{column}: some infinite or not-a-number values are treated as missing.", column=column),
            ))
    return out


@drawing("drivers.importance")
def draw_importance(d: Drawing) -> Any:
    """Permutation importance as bars with bootstrap intervals (statistics of the whole sample)."""
    rows = list(d.frame.iter_rows(named=True))[::-1]
    outcome = d.options["outcome"]
    fig, ax = new_figure(6.0, max(2.2, 0.32 * len(rows) + 1.0))
    ys = list(range(len(rows)))
    values = [r["importance"] if r["importance"] is not None else float("nan") for r in rows]
    colours = [PALETTE[1] if r["associated"] == "yes" else PALETTE[5] for r in rows]
    ax.barh(ys, values, color=colours, height=0.6)
    low = [r["ci_low"] if r["ci_low"] is not None else v for r, v in zip(rows, values)]
    high = [r["ci_high"] if r["ci_high"] is not None else v for r, v in zip(rows, values)]
    ax.errorbar(values, ys, xerr=[[max(v - lo, 0) for v, lo in zip(values, low)], [max(hi - v, 0) for v, hi in zip(values, high)]],
                fmt="none", ecolor="#333333", capsize=2, lw=0.8)
    ax.axvline(0, color="#8c8c8c", lw=0.8)
    ax.set_yticks(ys, [str(r["variable"])[:24] for r in rows], fontsize=8)
    ax.set_xlabel("rise in held-out prediction error when shuffled (%)")
    ax.set_title(f"Drivers of {outcome}")
    return fig


@drawing("drivers.coefficients")
def draw_coefficients(d: Drawing) -> Any:
    """Each regression term with its 95% interval; a term whose estimate is suppressed is
    marked as suppressed in its place."""
    from expedition.steps._plot import mark_suppressed

    kind, outcome = d.options["kind"], d.options["outcome"]
    key, low, high = ("odds_ratio", "or_low", "or_high") if kind == "binary" else ("estimate", "ci_low", "ci_high")
    hidden = d.hidden(key)[::-1]
    rows = list(d.frame.iter_rows(named=True))[::-1]
    fig, ax = new_figure(6.5, max(2.2, 0.26 * len(rows) + 1.0))
    ys = list(range(len(rows)))
    est = [r[key] if r[key] is not None else float("nan") for r in rows]
    lo = [r[low] if r[low] is not None else e for r, e in zip(rows, est)]
    hi = [r[high] if r[high] is not None else e for r, e in zip(rows, est)]
    significant = [r["p_adjusted"] is not None and r["p_adjusted"] < 0.05 for r in rows]
    for flag, colour in ((False, PALETTE[0]), (True, PALETTE[1])):
        idx = [i for i, f in enumerate(significant) if f == flag and est[i] == est[i]]
        if idx:
            ax.errorbar(
                [est[i] for i in idx], [ys[i] for i in idx],
                xerr=[[max(est[i] - lo[i], 0) for i in idx], [max(hi[i] - est[i], 0) for i in idx]],
                fmt="o", ms=3, capsize=2, color=colour, lw=0.8,
            )
    ax.axvline(1.0 if kind == "binary" else 0.0, color="#8c8c8c", lw=0.8, ls="--")
    if kind == "binary":
        ax.set_xscale("log")
        ax.set_xlabel(f"odds ratio for {outcome} (log scale)")
    else:
        ax.set_xlabel(f"change in {outcome}")
    ax.set_yticks(ys, [f"{r['variable']}: {r['term']}"[:40] for r in rows], fontsize=7)
    mark_suppressed(ax, [float(y) for y, h in zip(ys, hidden) if h], horizontal=True, symbol=d.rules.symbol)
    ax.set_title("Regression coefficients (standardised)")
    return fig
