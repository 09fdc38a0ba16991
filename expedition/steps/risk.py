"""`risk`: predictive risk stratification that says honestly how good it is.

Leakage-safe split (temporal when a date is known), a regularised logistic regression and a
gradient-boosted model on structured and text features, compared with a prevalence-only baseline
and a simple rule; discrimination and calibration on held-out data with bootstrap intervals; what a
team reviewing a given share of cases would catch; risk tiers; fairness across protected groups;
and a model card. The fitted model is returned in the finding's artifacts for `expedition score`.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from typing import Any, Literal

from pydantic import Field, field_validator

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.steps import Step, StepContext, StepParams, require_columns
from expedition.steps._model_card import model_card
from expedition.steps._plot import PALETTE, new_figure, small_multiples, to_figure

ModelKind = Literal["logistic", "boosting"]
MODEL_NAMES = {"logistic": "logistic regression", "boosting": "gradient boosting"}
_RULE = re.compile(r"^\s*`?(?P<column>[^`<>=!]+?)`?\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>.+?)\s*$")


class RiskParams(StepParams):
    outcome: str | None = Field(
        None, description="the binary outcome to predict; default: the data contract's target"
    )
    outcome_value: str | None = Field(
        None, description="the value of the outcome that counts as 'yes' (default: 1/true/yes)"
    )
    features: list[str] | None = Field(
        None,
        description="structured columns the model may use; default: every column that is not the "
        "outcome, an identifier, free text, a date, a location or a protected characteristic",
    )
    text: list[str] | None = Field(
        None,
        description="free-text columns used as TF-IDF features after redaction; default: the "
        "contract's text columns, else those that look like free text; [] for none",
    )
    protected: list[str] | None = Field(
        None,
        description="protected characteristics for the fairness checks; default: the contract's",
    )
    use_protected: bool = Field(
        False, description="also use the protected characteristics as model inputs"
    )
    date: str | None = Field(
        None,
        description="the date of the prediction point (e.g. the closure date); the model is "
        "trained on earlier records and tested on later ones; default: the contract's date column",
    )
    id_column: str | None = Field(
        None, description="the record identifier written beside each score by `expedition score`"
    )
    test_share: float = Field(0.25, ge=0.1, le=0.5, description="share of records held out for testing")
    outcome_window_days: int | None = Field(
        None,
        ge=0,
        description="days after the prediction point over which the outcome is observed (e.g. 365); "
        "training records this close to the test period are left out, as their outcomes were "
        "not yet known",
    )
    models: list[ModelKind] = Field(
        ["logistic", "boosting"],
        min_length=1,
        description="models to fit; the first is the one reported first and saved for scoring",
    )
    rule: str | None = Field(
        None,
        description="a simple rule to compare with, e.g. 'prior_referrals > 0'; default: "
        "ranking by the single strongest feature",
    )
    capacities: list[float] = Field(
        [0.05, 0.1, 0.2, 0.3],
        min_length=1,
        description="shares of cases a team could review; what each would catch is reported",
    )
    review_share: float = Field(
        0.1, gt=0, le=1, description="the share of cases reviewed in the headline and fairness checks"
    )
    tier_cuts: list[float] = Field(
        [0.7, 0.9],
        min_length=1,
        description="quantiles of training risk that separate the tiers ([0.7, 0.9]: low, medium, "
        "high, with the top 10% high)",
    )
    regularisation: float | None = Field(
        None,
        gt=0,
        description="inverse strength C of the logistic regression's L2 penalty; default: chosen "
        "from 0.01–1 by log loss on the latest 20% of the training records",
    )
    max_terms: int = Field(2000, ge=10, le=100_000, description="text vocabulary size per column")
    text_terms: int = Field(
        50, ge=1, le=1000, description="text terms (chosen by chi-squared) the boosted model sees"
    )
    bootstrap: int = Field(200, ge=20, le=5000, description="bootstrap resamples for the intervals")
    leakage_auc: float = Field(
        0.9, gt=0.5, le=1.0, description="a feature that alone predicts with this AUC is flagged"
    )
    keep_leaky: bool = Field(False, description="keep flagged features in the model (not advised)")

    @field_validator("capacities")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 1 for v in value):
            raise ValueError("every capacity must be a share between 0 and 1")
        return sorted(set(value))

    @field_validator("tier_cuts")
    @classmethod
    def _cuts(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in value) or value != sorted(set(value)):
            raise ValueError("tier cuts must be increasing quantiles strictly between 0 and 1")
        return value

    @field_validator("models")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("name each model once")
        return value


class Risk(Step):
    """Risk stratification: leakage-safe, calibrated, compared with simple baselines, fair.

    Records are split in time when a prediction date is known (the latest test_share of records
    by date are held out, and training records whose outcome window reaches into the test period
    are left out), otherwise at random within outcome classes. A leakage check scores every
    feature on its own: one that predicts the outcome near-perfectly (AUC of at least
    leakage_auc) or is dated after the prediction point is flagged and left out. The models are
    scikit-learn pipelines fitted on the training records only: an L2-regularised logistic
    regression (scaled numbers with missing-value indicators, one-hot categories, TF-IDF text
    after personal data is redacted, all in one ColumnTransformer; the penalty chosen by log loss
    on the latest fifth of the training records) and histogram gradient boosting (ordinal
    categories and the chi-squared-selected text terms). They are compared on
    the held-out records with a prevalence-only baseline and a simple rule: ROC AUC, PR AUC
    (average precision) and Brier score with percentile bootstrap 95% intervals from paired
    resamples; calibration by decile of predicted risk, calibration slope and
    calibration-in-the-large (with 95% intervals, by logistic regression on the logit of the
    risk); recall and precision (Wilson 95% intervals) when a team reviews the highest-risk
    share of cases; and risk tiers cut at quantiles of the training risks. Fairness is checked
    per protected group at the review share with fairlearn's definitions: selection rate, true-
    and false-positive rates, precision, AUC, observed against predicted risk, and ratios to the
    largest group (a ratio outside 0.8–1.25 with p < 0.05 by Fisher's exact or a binomial test
    is called out); groups smaller than the disclosure threshold are reported as too small to
    judge. A model card (after Mitchell et al., 2019) records intended and out-of-scope uses.
    """

    name = "risk"
    summary = "Risk model vs simple baselines: leakage checks, calibration, tiers, fairness, model card."
    version = "1"
    Params = RiskParams

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.referrals import generate

        frame = generate(600, seed=12).select(
            "referral_id", "closure_date", "district", "age", "prior_referrals", "sex", "rereferred_12m"
        )
        return frame.lazy(), {
            "outcome": "rereferred_12m", "outcome_value": "yes", "date": "closure_date",
            "id_column": "referral_id", "protected": ["sex"], "models": ["logistic"],
        }

    def run(self, frame: Any, params: RiskParams, ctx: StepContext) -> Finding:
        import numpy as np
        import polars as pl

        from expedition.steps import _models as m

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        caveats: list[str] = []
        plan = _resolve(data, params, ctx, caveats, step=self.name)
        if params.rule:
            parse_rule(params.rule, data.columns)  # a typo fails before any model is fitted
        ctx.report(0.05, "splitting the data")
        split = _split(data, plan, params, ctx, caveats)
        train, test = split["train"], split["test"]
        y_train, y_test = split["y_train"], split["y_test"]

        # leakage check ---------------------------------------------------------------------
        ctx.report(0.12, "checking for leakage")
        features_table, spec, leaky = _leakage(train, y_train, plan, params, ctx, caveats)
        if not spec.structured and not spec.text:
            raise StepError(
                "step 'risk': no usable feature is left to model",
                "name the model's inputs with 'features' and/or 'text' (see the features table "
                "for why each was left out)",
            )
        x_train, x_test = m.prepare(train, spec), m.prepare(test, spec)

        # models ----------------------------------------------------------------------------
        fitted: dict[str, Any] = {}
        scores: dict[str, np.ndarray] = {}
        with m.thread_limit(len(y_train)):
            for i, kind in enumerate(params.models):
                ctx.report(0.2 + 0.3 * i / len(params.models), f"fitting {MODEL_NAMES[kind]}")
                pipeline, spec_used = _fit(kind, spec, x_train, y_train, params, ctx, caveats, split.get("train_days"))
                if spec_used is not spec:  # the text gave no terms (found by the first model)
                    spec = spec_used
                    x_train, x_test = m.prepare(train, spec), m.prepare(test, spec)
                fitted[kind] = pipeline
                scores[MODEL_NAMES[kind]] = pipeline.predict_proba(x_test)[:, 1]
            training_risk = fitted[params.models[0]].predict_proba(x_train)[:, 1]
        thresholds = [float(v) for v in np.quantile(training_risk, params.tier_cuts)]
        primary_kind = params.models[0]
        primary = MODEL_NAMES[primary_kind]
        inputs = _model_inputs(fitted[primary_kind], primary_kind)
        if inputs > len(y_train):
            caveats.append(
                f"The model has more inputs ({inputs:,}) than training records ({len(y_train):,}): "
                "its estimates lean on regularisation and may not be stable; use more data or "
                "fewer features and text terms."
            )

        # baselines -------------------------------------------------------------------------
        prevalence = float(np.mean(y_train))
        methods = dict(scores)
        rule_name, rule_scores = _rule(params, train, test, y_train, spec, features_table, leaky)
        if rule_scores is not None:
            methods[rule_name] = rule_scores
        baseline = "baseline: overall rate"
        methods[baseline] = np.full(len(y_test), prevalence)

        # metrics ---------------------------------------------------------------------------
        ctx.report(0.6, "bootstrapping the metrics")
        perf, gains = m.bootstrap_metrics(
            methods,
            y_test,
            replicates=params.bootstrap,
            seed=ctx.seed,
            reference=primary,
            rankings=(rule_name,),
        )
        tiebreak = np.random.default_rng(ctx.seed).random(len(y_test))
        orders = {name: m.review_order(s, tiebreak) for name, s in methods.items()}
        calibration = m.calibration_fit(y_test, scores[primary])
        tier_names = m.tier_names(len(thresholds))

        tables: dict[str, Table] = {}
        tables["features"] = features_table
        tables["performance"] = _performance_table(perf, methods, primary, rule_name, baseline)
        capacities = sorted({*params.capacities, params.review_share})
        tables["capacity"] = _capacity_table(orders, y_test, capacities, ctx.min_count)
        tables["gains"] = _gains_table(orders, y_test)
        tables["calibration"] = _calibration_table(scores[primary], y_test)
        tables["tiers"] = _tiers_table(scores[primary], y_test, thresholds, tier_names)
        drivers = _drivers(fitted[primary_kind], primary_kind)
        if drivers is not None:
            tables["model_inputs"] = drivers

        # fairness --------------------------------------------------------------------------
        ctx.report(0.8, "checking fairness")
        flags = m.top_share(orders[primary], params.review_share)
        groups = _protected_groups(test, plan["protected"], caveats)
        if groups:
            fair = m.fairness_frame(y_test, scores[primary], flags, groups, min_count=ctx.min_count)
            tables["fairness"] = Table(
                fair,
                dict(m.FAIRNESS_KINDS),
                title=f"Fairness at a review share of {params.review_share:.0%} ({primary})",
                description="Per protected group on the held-out records: records, re-referred, "
                "flagged for review and caught; selection rate, true- and false-positive rates, "
                "precision, observed rate against mean predicted risk, AUC within the group, and "
                "ratios to the largest group. Groups (or rates) resting on fewer records than the "
                "disclosure threshold are too small to judge.",
                denominators=dict(m.FAIRNESS_DENOMINATORS),
            )
        else:
            caveats.append(
                "No protected characteristic was named, so fairness across groups was not "
                "checked; name them with 'protected' (or in the data contract)."
            )

        # the finding holds what the gate would publish, so the figures drawn from it survive
        tables = {name: safe_table(t, ctx.disclosure) for name, t in tables.items()}
        safe = {name: t.frame for name, t in tables.items()}
        figures: dict[str, Figure] = {
            "performance": _draw_performance(safe["performance"]),
            "gains": _draw_gains(safe["gains"]),
            "calibration": _draw_calibration(safe["calibration"], primary),
        }
        if "fairness" in safe:
            figures["fairness"] = _draw_fairness(safe["fairness"], params.review_share)

        # words -----------------------------------------------------------------------------
        ctx.report(0.9, "writing the model card")
        metrics = _metrics(perf, gains, calibration, primary, rule_name, baseline, split, prevalence)
        if "logistic" in fitted:
            metrics["regularisation_C"] = float(fitted["logistic"].named_steps["model"].C)
        headlines = _headlines(
            perf, gains, calibration, safe, params, split, primary, rule_name, baseline, leaky, plan
        )
        _calibration_caveats(calibration, caveats)
        _comparison_caveats(perf, params, caveats)
        caveats.extend(_standing_caveats(plan, split, params, ctx.min_count))
        card = model_card(
            plan=plan,
            params=params,
            spec=spec,
            split=split,
            safe=safe,
            metrics=metrics,
            primary=primary,
            caveats=caveats,
            min_count=ctx.min_count,
            dataset=ctx.dataset,
        )
        model = m.RiskModel(
            pipeline=fitted[primary_kind],
            kind=primary_kind,
            spec=spec,
            outcome=plan["outcome"],
            outcome_value=plan["outcome_value"],
            id_column=plan["id_column"],
            tier_names=tier_names,
            tier_thresholds=thresholds,
            params=params.model_dump(mode="json"),
            training={
                "rows": len(y_train),
                "positives": int(np.sum(y_train)),
                "sha256": split["train_sha256"],
                "period": split.get("train_period"),
                "dataset": ctx.dataset,
                "categories": {c: sorted(x_train[c].unique().to_list()) for c in spec.categorical},
            },
            versions=m.model_versions(),
            step_version=self.version,
        )
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title=f"Who is likely to be {plan['outcome_label']}: a risk model and its limits",
            headlines=headlines,
            method=" ".join((self.__doc__ or "").split("\n\n", 1)[1].split()),
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            documents={"model_card": card},
            params=params.model_dump(),
            artifacts={"model": model},
        )


# --------------------------------------------------------------------------- resolving inputs


def _resolve(data: Any, params: RiskParams, ctx: StepContext, caveats: list[str], *, step: str) -> dict[str, Any]:
    """Outcome, date, identifier, protected, feature and text columns from params or roles."""
    from expedition.steps._columns import binary_outcome, classify_columns
    from expedition.steps._columns import resolve_text_columns

    columns = data.columns
    outcome = params.outcome
    if outcome is None:
        targets = [c for c in ctx.columns_with_role("target") if c in columns]
        if len(targets) != 1:
            raise StepError(
                f"step '{step}': no outcome given"
                + (f" and the contract marks {len(targets)} targets" if targets else ""),
                "set the parameter 'outcome' to the yes/no column to predict",
            )
        outcome = targets[0]
    require_columns(columns, [outcome], param="outcome", step=step)
    date = params.date
    if date is None:
        dates = [c for c in ctx.columns_with_role("date") if c in columns]
        if len(dates) > 1:
            raise StepError(
                f"step '{step}': the contract marks several dates ({', '.join(dates)}); which is "
                "the prediction point?",
                "set the parameter 'date' to the date at which a prediction would be made "
                "(e.g. the closure date)",
            )
        date = dates[0] if dates else None
    require_columns(columns, [date], param="date", step=step)
    id_column = params.id_column
    if id_column is None:
        ids = [c for c in ctx.columns_with_role("identifier") if c in columns]
        id_column = ids[0] if ids else None
    require_columns(columns, [id_column], param="id_column", step=step)
    protected = list(params.protected) if params.protected is not None else [
        c for c in ctx.columns_with_role("protected") if c in columns
    ]
    require_columns(columns, protected, param="protected", step=step)
    if params.text is not None and not params.text:
        text: list[str] = []
    else:
        try:
            text = resolve_text_columns(data, params.text, ctx, step=step)
        except StepError:
            if params.text is not None:
                raise
            text = []
    text = [c for c in text if c != outcome]

    y_all, value = binary_outcome(data[outcome], params.outcome_value, outcome)
    kinds = classify_columns(data, exclude=[outcome])
    if params.features is not None:
        require_columns(columns, params.features, param="features", step=step)
        features = [c for c in params.features if c not in {outcome, date, id_column} and c not in text]
        if id_column in params.features:
            caveats.append(f"{id_column} identifies records, so it is not used as a feature.")
        used_protected = [c for c in features if c in protected]
        if used_protected and not params.use_protected:
            caveats.append(
                f"{', '.join(used_protected)} {'is a protected characteristic' if len(used_protected) == 1 else 'are protected characteristics'} "
                "named as a feature: the model uses it directly."
            )
    else:
        excluded_roles = {"identifier", "text", "target", "geo", "date"}
        if not params.use_protected:
            excluded_roles.add("protected")
        role_excluded = {c for c, r in ctx.roles.items() if r in excluded_roles}
        features = [
            c
            for c in columns
            if c not in {outcome, date, id_column, *text, *role_excluded}
            and (params.use_protected or c not in protected)
            and kinds.get(c) in {"numeric", "categorical"}
        ]
        if params.use_protected:
            features += [c for c in protected if c not in features and c != outcome]
        if features:
            caveats.append(
                "Features chosen by default (every column that is not the outcome, an identifier, "
                "free text, a date or a protected characteristic): " + ", ".join(features) + ". "
                "Check each could be known at the prediction point, or list them with 'features'."
            )
    return {
        "outcome": outcome,
        "outcome_value": value,
        "outcome_label": f"{outcome} = {value}",
        "y_all": y_all,
        "date": date,
        "id_column": id_column,
        "protected": protected,
        "text": text,
        "features": features,
        "dates_in_data": [c for c, k in kinds.items() if k == "date" and c not in {date}],
    }


def _as_date(series: Any) -> Any:
    import polars as pl

    if series.dtype == pl.Date:
        return series
    if series.dtype.is_temporal():
        return series.cast(pl.Date)
    return series.cast(pl.String).str.strip_chars().str.to_date(strict=False)


def _split(data: Any, plan: dict[str, Any], params: RiskParams, ctx: StepContext, caveats: list[str]) -> dict[str, Any]:
    import numpy as np
    import polars as pl

    y_all = plan["y_all"]
    known = y_all.is_not_null()
    missing = data.height - int(known.sum())
    if missing:
        caveats.append(f"{_count(missing, ctx.min_count)} records with no value for {plan['outcome']} are left out.")
    work = data.with_columns(y_all.alias("__y__"), pl.int_range(pl.len()).alias("__row__")).filter(known)
    positives = int(work["__y__"].sum()) if work.height else 0
    if positives == 0 or positives == work.height:
        only = plan["outcome_value"] if positives else f"not {plan['outcome_value']}"
        raise StepError(
            f"step 'risk': every one of the {work.height:,} records has {plan['outcome']} {'=' if positives else '≠'} "
            f"{plan['outcome_value']} ({only}): a model needs records with and without the outcome",
            "check 'outcome' and 'outcome_value', and that the delivery holds both kinds of case",
        )
    out: dict[str, Any] = {}
    date = plan["date"]
    if date is not None:
        day = _as_date(work[date])
        no_date = int(day.is_null().sum())
        if no_date == work.height:
            raise StepError(
                f"step 'risk': the date column {date!r} has no readable dates",
                "name a date column with 'date' (ISO dates such as 2024-03-31), or leave 'date' out "
                "for a random split",
            )
        if no_date:
            caveats.append(f"{_count(no_date, ctx.min_count)} records with no {date} cannot be placed in time and are left out.")
        work = work.with_columns(day.alias("__date__")).filter(pl.col("__date__").is_not_null())
        days = work["__date__"].cast(pl.Int64).to_numpy()
        cut = float(np.quantile(days, 1 - params.test_share))
        gap = params.outcome_window_days or 0
        test_mask = days >= cut
        train_mask = days < cut - gap
        test, train = work.filter(pl.Series(test_mask)), work.filter(pl.Series(train_mask))
        held = int((~test_mask & ~train_mask).sum())
        import datetime as dt

        def when(d: float) -> str:
            return (dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).isoformat()

        out["train_period"] = [when(days[train_mask].min()), when(days[train_mask].max())] if train_mask.any() else None
        out["test_period"] = [when(days[test_mask].min()), when(days[test_mask].max())]
        out["split"] = "temporal"
        out["gap_rows"] = held
        out["description"] = (
            f"trained on records with {date} before {when(cut - gap)} and tested on the later "
            f"records from {when(cut)}"
            + (f", leaving a gap of {gap} days (the outcome window) between them" if gap else "")
        )
    else:
        from sklearn.model_selection import train_test_split

        rows = np.arange(work.height)
        tr, te = train_test_split(
            rows, test_size=params.test_share, stratify=work["__y__"].to_numpy(), random_state=ctx.seed
        )
        train, test = work[np.sort(tr)], work[np.sort(te)]
        out["split"] = "stratified"
        out["gap_rows"] = 0
        out["description"] = (
            f"a random {1 - params.test_share:.0%}/{params.test_share:.0%} split within outcome classes"
        )
    y_train = train["__y__"].to_numpy().astype(int)
    y_test = test["__y__"].to_numpy().astype(int)
    for name, y in (("training", y_train), ("test", y_test)):
        pos = int(y.sum())
        if min(pos, len(y) - pos) < ctx.min_count:
            raise StepError(
                f"step 'risk': the {name} set ({out['description']}) has {_count(pos, ctx.min_count)} records with "
                f"the outcome and {_count(len(y) - pos, ctx.min_count)} without; at least {ctx.min_count} "
                "(the disclosure threshold) of each are needed to fit and judge a model",
                "use more data"
                + (", a shorter outcome_window_days or another test_share, or leave out 'date' for a random split" if date else ""),
            )
    columns = [c for c in train.columns if c not in {"__y__", "__row__", "__date__"}]
    out.update(
        train_days=train["__date__"].cast(pl.Int64).to_numpy() if "__date__" in train.columns else None,
        train=train.select(columns),
        test=test.select(columns),
        y_train=y_train,
        y_test=y_test,
        train_sha256=hashlib.sha256(train.select(columns).write_csv().encode("utf-8")).hexdigest(),
    )
    return out


# --------------------------------------------------------------------------- leakage


def _feature_kind(dtype: Any) -> str | None:
    import polars as pl

    if dtype == pl.Boolean or dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "date"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "categorical"
    return None


def _leakage(train: Any, y: Any, plan: dict[str, Any], params: RiskParams, ctx: StepContext, caveats: list[str]):
    """Check each feature alone; build the model's FeatureSpec from the ones that pass."""
    import numpy as np
    import polars as pl

    from expedition.steps import _models as m

    date = plan["date"]
    numeric, categorical, dates, rows = [], [], [], []
    leaky: list[tuple[str, str]] = []
    n = train.height
    for column in plan["features"]:
        series = train[column]
        kind = _feature_kind(series.dtype)
        if kind is None:
            raise StepError(
                f"step 'risk': feature {column!r} has type {series.dtype}, which a model cannot use",
                "use numbers, categories, true/false or dates as features, or leave it out",
            )
        missing = int(series.null_count())
        distinct = series.drop_nulls().n_unique()
        status, used, auc = "ok", True, math.nan
        values = series
        if kind == "date":
            day = _as_date(series)
            if date is not None:
                offset = (day - _as_date(train[date])).dt.total_days()
                after = float((offset > 0).sum()) / max(int(offset.is_not_null().sum()), 1)
                if after > 0.01:
                    status, used = f"dated after the prediction point ({date}) in {after:.0%} of records", False
                    leaky.append((column, status))
                values = offset
            else:
                values = day.cast(pl.Int64)
        if missing == n:
            status, used = "every value is missing", False
        elif distinct <= 1:
            status, used = "has a single value", False
        elif kind == "categorical" and n > 50 and distinct > 0.5 * n:
            status, used = "almost every value is different (an identifier?)", False
        if used:
            auc = m.single_feature_auc(values, y, "categorical" if kind == "categorical" else "numeric")
            if np.isfinite(auc) and auc >= params.leakage_auc:
                status = (
                    f"predicts the outcome almost perfectly on its own (AUC {auc:.2f}): probably "
                    "recorded after the outcome"
                )
                leaky.append((column, status))
                used = params.keep_leaky
        if used:
            {"numeric": numeric, "categorical": categorical, "date": dates}[kind].append(column)
        rows.append(
            {
                "feature": column,
                "type": kind,
                "missing_share": missing / n if n else math.nan,
                "single_feature_auc": auc,
                "used": "yes" if used else "no",
                "check": status,
            }
        )
    dropped_simple = [r for r in rows if r["used"] == "no" and r["check"] in {"every value is missing", "has a single value"}]
    if dropped_simple:
        caveats.append(
            "Left out because they carry no information in the training data: "
            + ", ".join(f"{r['feature']} ({r['check']})" for r in dropped_simple)
            + "."
        )
    if leaky:
        action = "kept, as keep_leaky is set — the results below are not to be trusted" if params.keep_leaky else "left out"
        caveats.append(
            "Leakage check: "
            + "; ".join(f"{c} {why}" for c, why in leaky)
            + f". {'It was' if len(leaky) == 1 else 'They were'} {action}. A feature recorded after "
            "the prediction point makes a model look far better than it can be in use."
        )
    if date is not None:
        for column in plan["dates_in_data"]:
            if column in plan["features"] or column not in train.columns:
                continue
            offset = (_as_date(train[column]) - _as_date(train[date])).dt.total_days()
            valid = int(offset.is_not_null().sum())
            after = float((offset > 0).sum()) / valid if valid else 0.0
            if after > 0.01:
                caveats.append(
                    f"{column} falls after the prediction point ({date}) in {after:.0%} of records: "
                    "nothing derived from it may be a feature."
                )
    text = []
    for column in plan["text"]:
        empty = train[column].cast(pl.String).str.strip_chars().str.len_chars().fill_null(0) == 0
        if int((~empty).sum()) < ctx.min_count:
            caveats.append(f"The text column {column} is empty (or nearly) in the training data and is left out.")
            rows.append({"feature": column, "type": "text", "missing_share": float(empty.mean()), "single_feature_auc": math.nan, "used": "no", "check": "empty"})
            continue
        text.append(column)
        rows.append({"feature": column, "type": "text", "missing_share": float(empty.mean()), "single_feature_auc": math.nan, "used": "yes", "check": "redacted, then TF-IDF terms"})
    table = Table(
        pl.DataFrame(
            rows,
            schema={
                "feature": pl.String,
                "type": pl.String,
                "missing_share": pl.Float64,
                "single_feature_auc": pl.Float64,
                "used": pl.String,
                "check": pl.String,
            },
        ).with_columns(pl.col(pl.Float64).fill_nan(None)),
        {
            "feature": "label",
            "type": "label",
            "missing_share": "rate",
            "single_feature_auc": "statistic",
            "used": "label",
            "check": "text",
        },
        title="Features and the leakage check",
        description="Each candidate feature on the training records: its share missing, how well "
        "it alone ranks the outcome (AUC; 0.5 is chance), whether the model uses it, and why not.",
    )
    spec = m.FeatureSpec(numeric=numeric, categorical=categorical, dates=dates, text=text, date=date)
    return table, spec, leaky


# --------------------------------------------------------------------------- models


#: The inverse penalties C tried for the logistic regression when 'regularisation' is not set.
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def _fit(kind: str, spec: Any, x: Any, y: Any, params: RiskParams, ctx: StepContext, caveats: list[str], days: Any):
    """Fit one model; if the text yields no terms, say so and fit without it."""
    from sklearn.exceptions import ConvergenceWarning

    from expedition.steps import _models as m

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=r"k=\d+ is greater than n_features")
        try:
            return _fit_once(kind, spec, x, y, params, ctx, days), spec
        except ValueError as exc:
            if not spec.text or ("vocabulary" not in str(exc) and "no terms remain" not in str(exc)):
                raise
        caveats.append(
            f"No word or phrase occurs in {ctx.min_count} or more training documents of "
            f"{', '.join(spec.text)}, so the model uses no text."
        )
        reduced = m.FeatureSpec(spec.numeric, spec.categorical, spec.dates, [], spec.date)
        if not reduced.structured:
            raise StepError(
                "step 'risk': the text gives no terms and there are no other features",
                "add structured features with 'features', or use more text",
            )
        return _fit_once(kind, reduced, x, y, params, ctx, days), reduced


def _fit_once(kind: str, spec: Any, x: Any, y: Any, params: RiskParams, ctx: StepContext, days: Any) -> Any:
    from expedition.steps import _models as m

    if kind == "boosting":
        pipeline = m.boosting_pipeline(
            spec, min_count=ctx.min_count, max_terms=params.max_terms, text_terms=params.text_terms, seed=ctx.seed
        )
        return pipeline.fit(x, y)
    C = params.regularisation if params.regularisation is not None else _choose_c(spec, x, y, days, params, ctx)
    pipeline = m.logistic_pipeline(spec, C=C, min_count=ctx.min_count, max_terms=params.max_terms, seed=ctx.seed)
    return pipeline.fit(x, y)


def _choose_c(spec: Any, x: Any, y: Any, days: Any, params: RiskParams, ctx: StepContext) -> float:
    """The penalty with the lowest log loss on the latest 20% of the training records (a random
    20% within classes when there is no date), preparing the features once for every C."""
    import numpy as np
    import polars as pl
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    from expedition.steps import _models as m

    n = len(y)
    if days is not None:
        order = np.lexsort((np.arange(n), days))
        validation = np.zeros(n, dtype=bool)
        validation[order[int(n * 0.8):]] = True
    else:
        from sklearn.model_selection import train_test_split

        _, held = train_test_split(np.arange(n), test_size=0.2, stratify=y, random_state=ctx.seed)
        validation = np.zeros(n, dtype=bool)
        validation[held] = True
    fit_y, val_y = y[~validation], y[validation]
    if min(val_y.sum(), len(val_y) - val_y.sum(), fit_y.sum(), len(fit_y) - fit_y.sum()) < ctx.min_count:
        return 0.1
    prep = m.logistic_pipeline(spec, C=1.0, min_count=ctx.min_count, max_terms=params.max_terms, seed=ctx.seed)
    prep = prep.named_steps["prepare"]
    a = prep.fit_transform(x.filter(pl.Series(~validation)), fit_y)
    b = prep.transform(x.filter(pl.Series(validation)))
    losses = []
    for C in C_GRID:
        model = LogisticRegression(C=C, max_iter=2000, random_state=ctx.seed).fit(a, fit_y)
        losses.append(log_loss(val_y, model.predict_proba(b)[:, 1], labels=[0, 1]))
    return float(C_GRID[int(np.argmin(losses))])


def _model_inputs(pipeline: Any, kind: str) -> int:
    model = pipeline.named_steps["model"]
    if kind == "logistic":
        return int(model.coef_.shape[1])
    return int(model.n_features_in_)


def parse_rule(rule: str, columns: list[str]) -> tuple[str, str, str]:
    """COLUMN OPERATOR VALUE, checked against the data's columns."""
    match = _RULE.match(rule)
    if not match:
        raise StepError(
            f"step 'risk': cannot read the rule {rule!r}",
            "write it as COLUMN OPERATOR VALUE, e.g. 'prior_referrals > 0' or "
            "'closure_reason == No further action' (operators: > >= < <= == !=)",
        )
    column, op, raw = match["column"].strip(), match["op"], match["value"].strip().strip("'\"")
    require_columns(columns, [column], param="rule", step="risk")
    return column, op, raw


def _rule(params: RiskParams, train: Any, test: Any, y_train: Any, spec: Any, features: Table, leaky: list) -> tuple[str, Any]:
    import numpy as np
    import polars as pl

    if params.rule:
        column, op, raw = parse_rule(params.rule, test.columns)
        series = test[column]
        if series.dtype.is_numeric() or series.dtype == pl.Boolean:
            try:
                value: Any = float(raw)
            except ValueError:
                raise StepError(
                    f"step 'risk': the rule compares the number column {column!r} with {raw!r}",
                    "compare it with a number, e.g. 'prior_referrals > 0'",
                ) from None
            x = series.cast(pl.Float64)
        else:
            value, x = raw, series.cast(pl.String)
        expr = {">": x > value, ">=": x >= value, "<": x < value, "<=": x <= value, "==": x == value, "!=": x != value}[op]
        flags = expr.fill_null(False).to_numpy().astype(float)
        return f"rule: {column} {op} {raw}", flags
    table = features.frame.filter((pl.col("used") == "yes") & pl.col("single_feature_auc").is_not_null())
    table = table.filter(~pl.col("feature").is_in([c for c, _ in leaky]))
    if table.height == 0:
        return "rule", None
    best = table.sort(["single_feature_auc", "feature"], descending=[True, False]).row(0, named=True)
    column = best["feature"]
    if best["type"] == "categorical":
        rates = (
            pl.DataFrame({"x": train[column].cast(pl.String), "y": y_train})
            .group_by("x")
            .agg(pl.col("y").mean().alias("r"))
        )
        scored = pl.DataFrame({"x": test[column].cast(pl.String)}).join(rates, on="x", how="left", maintain_order="left")
        values = scored["r"].fill_null(float(np.mean(y_train))).to_numpy()
    else:
        from expedition.steps import _models as m

        x_tr = m.prepare(train, m.FeatureSpec(numeric=[column]) if best["type"] == "numeric" else m.FeatureSpec(dates=[column], date=spec.date))[column].to_numpy()
        x_te = m.prepare(test, m.FeatureSpec(numeric=[column]) if best["type"] == "numeric" else m.FeatureSpec(dates=[column], date=spec.date))[column].to_numpy()
        median = float(np.nanmedian(x_tr))
        sign = 1.0 if m.Ranked(np.where(np.isnan(x_tr), median, x_tr), y_train).auc() >= 0.5 else -1.0
        values = sign * np.where(np.isnan(x_te), median, x_te)
    return f"rule: rank by {column} alone", values


# --------------------------------------------------------------------------- tables


def _share_label(share: float) -> str:
    return f"top {share * 100:.3g}%"


def _performance_table(perf: dict, methods: dict, primary: str, rule: str, baseline: str) -> Table:
    import polars as pl

    rows = []
    for name in methods:
        p = perf[name]
        role = "model (saved)" if name == primary else "model" if name.endswith(("regression", "boosting")) else "baseline"
        rows.append(
            {
                "method": name,
                "role": role,
                "auc": p["auc"].estimate,
                "auc_low": p["auc"].low,
                "auc_high": p["auc"].high,
                "pr_auc": p["pr_auc"].estimate,
                "pr_auc_low": p["pr_auc"].low,
                "pr_auc_high": p["pr_auc"].high,
                "brier": p["brier"].estimate,
                "brier_low": p["brier"].low,
                "brier_high": p["brier"].high,
            }
        )
    frame = pl.DataFrame(rows).with_columns(pl.col(pl.Float64).fill_nan(None))
    kinds = {c: "statistic" for c in frame.columns}
    kinds.update({"method": "label", "role": "label"})
    return Table(
        frame,
        kinds,
        title="How well each method ranks and predicts on the held-out records",
        description="ROC AUC (0.5 = chance), PR AUC (average precision; the overall rate = no "
        "skill) and Brier score (lower is better), with percentile bootstrap 95% intervals.",
    )


def _capacity_table(orders: dict, y: Any, capacities: list[float], min_count: int) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps._models import top_share, wilson

    positives = int(np.sum(y))
    rows = []
    for name, order in orders.items():
        for share in capacities:
            flags = top_share(order, share)
            reviewed = int(flags.sum())
            caught = int(np.sum(y[flags]))
            rows.append({"method": name, "capacity": _share_label(share), "share": share, "reviewed": reviewed, "caught": caught})
    frame = pl.DataFrame(rows)
    r_low, r_high = wilson(frame["caught"].to_numpy(), np.full(frame.height, positives))
    p_low, p_high = wilson(frame["caught"].to_numpy(), frame["reviewed"].to_numpy())
    frame = frame.with_columns(
        (pl.col("caught") / positives).alias("recall"),
        pl.Series("recall_low", r_low),
        pl.Series("recall_high", r_high),
        (pl.col("caught") / pl.col("reviewed")).alias("precision"),
        pl.Series("precision_low", p_low),
        pl.Series("precision_high", p_high),
    )
    return Table(
        frame,
        {
            "method": "label",
            "capacity": "label",
            "share": "statistic",
            "reviewed": "count",
            "caught": "count",
            "recall": "rate",
            "recall_low": "rate",
            "recall_high": "rate",
            "precision": "rate",
            "precision_low": "rate",
            "precision_high": "rate",
        },
        title="What a team reviewing the highest-risk cases would catch",
        description=f"On the held-out records ({positives:,} with the outcome): reviewing the "
        "highest-ranked share of cases, how many with the outcome are caught (recall) and what "
        "share of those reviewed have it (precision), with Wilson 95% intervals. Equal scores "
        "are taken in a fixed random order.",
        denominators={
            "recall": "caught",
            "recall_low": "caught",
            "recall_high": "caught",
            "precision": ["caught", "reviewed"],
            "precision_low": ["caught", "reviewed"],
            "precision_high": ["caught", "reviewed"],
        },
    )


def _gains_table(orders: dict, y: Any) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps._models import top_share

    positives = int(np.sum(y))
    rows = []
    for name, order in orders.items():
        for step in range(0, 21):
            share = step / 20
            flags = top_share(order, share)
            caught = int(np.sum(y[flags]))
            rows.append({"method": name, "reviewed_share": share, "reviewed": int(flags.sum()), "caught": caught, "caught_share": caught / positives})
    return Table(
        pl.DataFrame(rows),
        {"method": "label", "reviewed_share": "statistic", "reviewed": "count", "caught": "count", "caught_share": "rate"},
        title="Cumulative gains: share of outcomes caught against share of cases reviewed",
        denominators={"caught_share": "caught"},
    )


def _calibration_table(scores: Any, y: Any) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps._models import wilson

    n = len(y)
    order = np.argsort(scores, kind="stable")
    band = np.empty(n, dtype=np.int64)
    band[order] = np.arange(n) * 10 // n
    frame = (
        pl.DataFrame({"band": band + 1, "y": y, "p": scores})
        .group_by("band")
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("y").sum().cast(pl.Int64).alias("observed"),
            pl.col("p").mean().alias("mean_predicted"),
            pl.col("p").min().alias("predicted_from"),
            pl.col("p").max().alias("predicted_to"),
        )
        .sort("band")
    )
    low, high = wilson(frame["observed"].to_numpy(), frame["n"].to_numpy())
    frame = frame.with_columns(
        pl.format("decile {}", pl.col("band").cast(pl.String).str.zfill(2)).alias("decile"),
        (pl.col("observed") / pl.col("n")).alias("observed_rate"),
        pl.Series("ci_low", low),
        pl.Series("ci_high", high),
    ).select("decile", "n", "observed", "observed_rate", "ci_low", "ci_high", "mean_predicted", "predicted_from", "predicted_to")
    return Table(
        frame,
        {
            "decile": "label",
            "n": "count",
            "observed": "count",
            "observed_rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "mean_predicted": "statistic",
            "predicted_from": "statistic",
            "predicted_to": "statistic",
        },
        title="Calibration: observed rate against predicted risk, by decile of risk",
        description="Held-out records in ten equal groups by predicted risk; a well-calibrated "
        "model's observed rates (with Wilson 95% intervals) match its mean predicted risks.",
        denominators={
            "observed_rate": ["observed", "n"],
            "ci_low": ["observed", "n"],
            "ci_high": ["observed", "n"],
            "mean_predicted": "n",
            "predicted_from": "n",
            "predicted_to": "n",
        },
    )


def _tiers_table(scores: Any, y: Any, thresholds: list[float], names: list[str]) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps._models import wilson

    index = np.searchsorted(np.asarray(thresholds), scores, side="right")
    positives = int(np.sum(y))
    rows = []
    bounds = [0.0, *thresholds, 1.0]
    for i, name in enumerate(names):
        member = index == i
        rows.append(
            {
                "tier": name,
                "risk_from": bounds[i],
                "risk_to": bounds[i + 1],
                "n": int(member.sum()),
                "positives": int(np.sum(y[member])),
                "mean_predicted": float(np.mean(scores[member])) if member.any() else None,
            }
        )
    frame = pl.DataFrame(rows, schema_overrides={"mean_predicted": pl.Float64})
    low, high = wilson(frame["positives"].to_numpy(), frame["n"].to_numpy())
    frame = frame.with_columns(
        pl.when(pl.col("n") > 0).then(pl.col("positives") / pl.col("n")).alias("observed_rate"),
        pl.Series("ci_low", low).fill_nan(None),
        pl.Series("ci_high", high).fill_nan(None),
        (pl.col("positives") / positives).alias("share_of_outcomes"),
    )
    return Table(
        frame,
        {
            "tier": "label",
            "risk_from": "statistic",
            "risk_to": "statistic",
            "n": "count",
            "positives": "count",
            "mean_predicted": "statistic",
            "observed_rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "share_of_outcomes": "rate",
        },
        title="Risk tiers on the held-out records",
        description="Tiers are cut at fixed risks (quantiles of the training records' risks), so "
        "`expedition score` assigns new records the same way. Observed rates with Wilson 95% "
        "intervals, and each tier's share of all outcomes.",
        denominators={
            "mean_predicted": "n",
            "observed_rate": ["positives", "n"],
            "ci_low": ["positives", "n"],
            "ci_high": ["positives", "n"],
            "share_of_outcomes": "positives",
        },
    )


def _drivers(pipeline: Any, kind: str, top: int = 12) -> Table | None:
    """The logistic regression's largest coefficients, named in plain words."""
    import numpy as np
    import polars as pl

    if kind != "logistic":
        return None
    prep, model = pipeline.named_steps["prepare"], pipeline.named_steps["model"]
    try:
        names = list(prep.get_feature_names_out())
    except Exception:  # pragma: no cover - a transformer without names
        return None
    coef = model.coef_[0]
    order = np.lexsort((np.array(names, dtype=object), -np.abs(coef)))[: 2 * top]
    rows = []
    for i in order:
        rows.append({"input": _plain_input(names[i]), "coefficient": float(coef[i]), "odds_ratio": float(np.exp(coef[i]))})
    return Table(
        pl.DataFrame(rows),
        {"input": "label", "coefficient": "statistic", "odds_ratio": "statistic"},
        title="What the logistic regression leans on most",
        description="The largest coefficients (numbers per standard deviation, categories against "
        "the rest, text terms per unit of TF-IDF weight). Associations in past data, not causes; "
        "categories and terms rarer than the disclosure threshold were never model inputs.",
    )


def _plain_input(name: str) -> str:
    part, _, rest = name.partition("__")
    if part == "numeric":
        if rest.startswith("missingindicator_"):
            return f"{rest.removeprefix('missingindicator_')} missing"
        return f"{rest} (per SD)"
    if part == "categorical":
        column, _, level = rest.rpartition("_")
        level = "rarer values" if level == "infrequent_sklearn" else level
        return f"{column} = {level}"
    if part.startswith("text:"):
        return f"{part.removeprefix('text:')} mentions '{rest}'"
    return name


def _protected_groups(test: Any, protected: list[str], caveats: list[str]) -> dict[str, Any]:
    import polars as pl

    from expedition.steps._models import MISSING_CATEGORY

    groups = {}
    for column in protected:
        series = test[column]
        if series.null_count() == series.len():
            caveats.append(f"The protected characteristic {column} is missing for every held-out record, so fairness for it cannot be checked.")
            continue
        values = series.cast(pl.String).fill_null(MISSING_CATEGORY)
        if values.n_unique() < 2:
            caveats.append(f"The protected characteristic {column} has a single value in the held-out records: no groups to compare.")
            continue
        if series.null_count():
            caveats.append(f"{column} is missing for some held-out records; they form their own group, {MISSING_CATEGORY}.")
        groups[column] = values.to_numpy()
    return groups


# --------------------------------------------------------------------------- words


def _count(n: int, min_count: int) -> str:
    return f"fewer than {min_count}" if 0 < n < min_count else f"{n:,}"


def _metrics(perf, gains, calibration, primary, rule, baseline, split, prevalence) -> dict[str, float]:
    out: dict[str, float] = {
        "train_records": float(len(split["y_train"])),
        "test_records": float(len(split["y_test"])),
        "train_rate": prevalence,
        "test_rate": float(split["y_test"].mean()),
    }
    for metric in ("auc", "pr_auc", "brier"):
        p = perf[primary][metric]
        out[metric], out[f"{metric}_low"], out[f"{metric}_high"] = p.estimate, p.low, p.high
    for name, key in ((baseline, "baseline"), (rule, "rule")):
        if name in perf:
            out[f"{key}_auc"] = perf[name]["auc"].estimate
    if baseline in perf:
        out["baseline_brier"] = perf[baseline]["brier"].estimate
    for name, p in perf.items():
        if name != primary and name.endswith(("regression", "boosting")):
            out["other_model_auc"] = p["auc"].estimate
    if rule in gains:
        g = gains[rule]
        out["auc_gain_over_rule"], out["auc_gain_over_rule_low"], out["auc_gain_over_rule_high"] = g.estimate, g.low, g.high
    out.update(calibration)
    return out


def _headlines(perf, gains, calibration, safe, params, split, primary, rule, baseline, leaky, plan) -> list[str]:
    import polars as pl

    out = []
    p = perf[primary]["auc"]
    period = f"closed from {split['test_period'][0]}" if split.get("test_period") else "held out at random"
    if p.low <= 0.5:
        out.append(
            f"On {len(split['y_test']):,} later records ({period}), the {primary} does no better than "
            f"chance at ranking who is {plan['outcome_label']}: AUC {p.estimate:.2f} (95% CI "
            f"{p.low:.2f}–{p.high:.2f}; 0.5 is chance). It should not be used."
            if split["split"] == "temporal"
            else f"On {len(split['y_test']):,} held-out records, the {primary} does no better than chance "
            f"at ranking who is {plan['outcome_label']}: AUC {p.estimate:.2f} (95% CI {p.low:.2f}–"
            f"{p.high:.2f}; 0.5 is chance). It should not be used."
        )
    else:
        where = f"later records ({period})" if split["split"] == "temporal" else "held-out records"
        text = (
            f"On {len(split['y_test']):,} {where}, the {primary} ranks a case with "
            f"{plan['outcome_label']} above one without with AUC {p.estimate:.2f} (95% CI "
            f"{p.low:.2f}–{p.high:.2f})"
        )
        if rule in perf:
            r = perf[rule]["auc"]
            text += f"; the simple rule ({rule.removeprefix('rule: ')}) reaches {r.estimate:.2f}"
        text += ", and guessing from the overall rate 0.50."
        out.append(text)
        if rule in gains:
            g = gains[rule]
            verdict = "better than" if g.low > 0 else "not clearly better than"
            out.append(
                f"The model is {verdict} the simple rule: AUC difference {g.estimate:+.2f} (95% CI "
                f"{g.low:+.2f} to {g.high:+.2f})."
            )
    cap = safe["capacity"]
    label = _share_label(params.review_share)
    row = cap.filter((pl.col("method") == primary) & (pl.col("capacity") == label))
    if row.height and row["recall"][0] is not None and row["precision"][0] is not None:
        r = row.row(0, named=True)
        sentence = (
            f"If the team can review the {label} of cases by risk, the model catches "
            f"{r['recall']:.0%} of those {plan['outcome_label']} (95% CI {r['recall_low']:.0%}–"
            f"{r['recall_high']:.0%}) with precision {r['precision']:.0%}"
        )
        other = cap.filter((pl.col("method") == rule) & (pl.col("capacity") == label))
        if other.height and other["recall"][0] is not None and other["precision"][0] is not None:
            o = other.row(0, named=True)
            sentence += f"; the simple rule catches {o['recall']:.0%} with precision {o['precision']:.0%}"
        out.append(sentence + f"; reviewing at random would catch about {params.review_share:.0%}.")
    if calibration:
        slope = calibration["calibration_slope"]
        low, high = calibration["calibration_slope_low"], calibration["calibration_slope_high"]
        if low <= 1 <= high:
            out.append(f"Predicted risks are consistent with observed rates (calibration slope {slope:.2f}, 95% CI {low:.2f}–{high:.2f}).")
        elif slope < 1:
            out.append(f"Predicted risks are too extreme for later cases (calibration slope {slope:.2f}, 95% CI {low:.2f}–{high:.2f}; 1 is ideal): treat them as a ranking, not as probabilities.")
        else:
            out.append(f"Predicted risks are too cautious (calibration slope {slope:.2f}, 95% CI {low:.2f}–{high:.2f}; 1 is ideal): treat them as a ranking, not as probabilities.")
    out.extend(_fairness_headlines(safe.get("fairness")))
    if leaky:
        names = ", ".join(c for c, _ in leaky)
        out.append(
            f"The leakage check flagged {names}: {'it' if len(leaky) == 1 else 'they'} would have "
            f"made the model look far better than it can be, and {'was' if len(leaky) == 1 else 'were'} "
            + ("kept on request." if params.keep_leaky else "left out.")
        )
    return out


def fairness_gaps(row: dict[str, Any], ref: dict[str, Any]) -> list[tuple[str, float, float]]:
    """The differences between a group and the reference group that are both large (a ratio
    outside 0.8–1.25, the four-fifths rule) and unlikely to be chance (Fisher's exact test, or
    a binomial test of observed against predicted, p < 0.05): (what, ratio, p-value)."""
    from scipy.stats import binomtest, fisher_exact

    gaps = []
    pairs = (("selection_rate_ratio", "flagged", "n", "flagged"), ("tpr_ratio", "caught", "positives", "outcomes caught"))
    for ratio_key, hits, total, what in pairs:
        ratio = row.get(ratio_key)
        counts = [row.get(hits), row.get(total), ref.get(hits), ref.get(total)]
        if ratio is None or any(c is None for c in counts) or 0.8 <= ratio <= 1.25:
            continue
        a, n_a, b, n_b = (int(c) for c in counts)
        p = fisher_exact([[a, n_a - a], [b, n_b - b]])[1]
        if p < 0.05:
            gaps.append((what, ratio, float(p)))
    o2p = row.get("observed_to_predicted")
    if o2p is not None and not 0.8 <= o2p <= 1.25 and row.get("positives") is not None and row.get("n"):
        p = binomtest(int(row["positives"]), int(row["n"]), min(max(row["mean_predicted"], 1e-9), 1 - 1e-9)).pvalue
        if p < 0.05:
            gaps.append(("observed against predicted", o2p, float(p)))
    return gaps


def _fairness_headlines(fair: Any) -> list[str]:
    import polars as pl

    if fair is None:
        return []
    out = []
    for characteristic in fair["characteristic"].unique(maintain_order=True).to_list():
        part = fair.filter((pl.col("characteristic") == characteristic) & pl.col("n").is_not_null())
        if part.height < 2:
            continue
        rows = list(part.iter_rows(named=True))
        ref = rows[0]
        for row in rows[1:]:
            gaps = fairness_gaps(row, ref)
            if not gaps:
                continue
            parts = []
            for what, ratio, _ in gaps:
                if what == "flagged":
                    parts.append(f"is flagged for review {ratio:.2f} times as often as {ref['group']}")
                elif what == "outcomes caught":
                    parts.append(f"has {ratio:.2f} times the share of its outcomes caught")
                else:
                    parts.append(
                        f"has an observed rate of {row['observed_rate']:.0%} where the model predicts "
                        f"{row['mean_predicted']:.0%}"
                    )
            out.append(
                f"Fairness, {characteristic}: group {row['group']} " + ", and ".join(parts)
                + f" (against {ref['group']}, the largest group; p < 0.05). This calls for a closer "
                "look before any use."
            )
    if not out and fair.height:
        out.append(
            "No protected group large enough to judge clearly differs from the largest group "
            "(a ratio outside 0.8–1.25 with p < 0.05) in how often it is flagged, how many of its "
            "outcomes are caught, or observed against predicted risk; small groups can hide "
            "differences, so read the fairness table too."
        )
    return out


def _calibration_caveats(calibration: dict, caveats: list[str]) -> None:
    if not calibration:
        return
    citl = calibration["calibration_intercept"]
    if not calibration["calibration_intercept_low"] <= 0 <= calibration["calibration_intercept_high"]:
        direction = "higher" if citl > 0 else "lower"
        caveats.append(
            f"The outcome was {direction} in the later records than the model predicts "
            f"(calibration-in-the-large {citl:+.2f} on the log-odds scale): rates change over "
            "time, so risks need re-checking on recent data before use."
        )


def _comparison_caveats(perf: dict, params: RiskParams, caveats: list[str]) -> None:
    if len(params.models) < 2:
        return
    first, second = (MODEL_NAMES[k] for k in params.models[:2])
    a, b = perf[first]["auc"], perf[second]["auc"]
    if b.estimate - a.estimate > 0.02:
        caveats.append(
            f"The {second} reached a higher AUC ({b.estimate:.2f}) than the saved {first} "
            f"({a.estimate:.2f}); it was not chosen on this result, as choosing on the test records "
            "would make the reported figures optimistic. List it first in 'models' to save it."
        )


def _standing_caveats(plan: dict, split: dict, params: RiskParams, min_count: int) -> list[str]:
    out = []
    if split["split"] == "temporal":
        if params.outcome_window_days is None:
            out.append(
                "No outcome_window_days was given: training records close to the test period may "
                "have outcomes that were only known later. Set it to the length of the outcome "
                "window (e.g. 365) for a strictly leakage-safe split."
            )
        elif split["gap_rows"]:
            out.append(
                f"{_count(split['gap_rows'], min_count)} records in the {params.outcome_window_days}-day gap before the "
                "test period were used for neither training nor testing, as their outcomes were "
                "not yet known when the test period began."
            )
    else:
        out.append(
            "No prediction date was given, so the split is random: the model is tested on cases "
            "from the same period it learnt from, which flatters it. Name a date with 'date'."
        )
    out.append(
        f"The model predicts {plan['outcome_label']} as it was recorded, which reflects past "
        "decisions about who was referred and how; a risk score can carry those patterns forward."
    )
    out.append(
        "A risk score supports professional judgement about which cases to review first; it must "
        "never decide anything about a child or family by itself."
    )
    return out


# --------------------------------------------------------------------------- figures


def _draw_performance(perf: Any) -> Figure:
    import numpy as np

    fig, ax = new_figure(6.5, 0.6 + 0.45 * perf.height)
    names = perf["method"].to_list()[::-1]
    auc = np.array([v if v is not None else np.nan for v in perf["auc"].to_list()[::-1]])
    low = np.array([v if v is not None else np.nan for v in perf["auc_low"].to_list()[::-1]])
    high = np.array([v if v is not None else np.nan for v in perf["auc_high"].to_list()[::-1]])
    y = np.arange(len(names))
    colours = [PALETTE[0] if r.startswith("model") else PALETTE[5] for r in perf["role"].to_list()[::-1]]
    ax.scatter(auc, y, color=colours, zorder=3)
    ax.errorbar(auc, y, xerr=[np.nan_to_num(auc - low), np.nan_to_num(high - auc)], fmt="none", ecolor="#333333", lw=1)
    ax.axvline(0.5, color="#999999", lw=0.8, ls="--")
    ax.set_yticks(y, names)
    ax.set_xlim(0.4, 1.0)
    ax.set_xlabel("ROC AUC on held-out records (95% bootstrap interval; 0.5 = chance)")
    return to_figure(fig, "Discrimination: models against simple baselines", alt="Dot plot of ROC AUC with 95% intervals for each model, the simple rule and the overall-rate baseline.", data="performance")


def _draw_gains(gains: Any) -> Figure:
    import polars as pl

    fig, ax = new_figure(5.5, 4.0)
    for i, name in enumerate(gains["method"].unique(maintain_order=True).to_list()):
        part = gains.filter((pl.col("method") == name) & pl.col("caught_share").is_not_null())
        style = "--" if name.startswith("baseline") else "-"
        ax.plot(part["reviewed_share"].to_list(), part["caught_share"].to_list(), style, label=name, color=PALETTE[i % len(PALETTE)])
    ax.set_xlabel("share of cases reviewed, highest risk first")
    ax.set_ylabel("share of outcomes caught")
    ax.legend(frameon=False, fontsize=8)
    return to_figure(fig, "Cumulative gains: what reviewing the highest-risk cases catches", alt="Lines showing the share of outcomes caught against the share of cases reviewed, for each method.", data="gains")


def _draw_calibration(cal: Any, primary: str) -> Figure:
    import polars as pl

    part = cal.filter(pl.col("observed_rate").is_not_null() & pl.col("mean_predicted").is_not_null())
    fig, ax = new_figure(4.8, 4.2)
    top = max([*part["mean_predicted"].to_list(), *part["ci_high"].to_list(), 0.05])
    ax.plot([0, top], [0, top], color="#999999", lw=0.8, ls="--")
    x, y = part["mean_predicted"].to_numpy(), part["observed_rate"].to_numpy()
    ax.errorbar(x, y, yerr=[y - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - y], fmt="o", color=PALETTE[0], ecolor="#333333", lw=0.8)
    ax.set_xlabel(f"mean predicted risk ({primary})")
    ax.set_ylabel("observed rate (95% CI)")
    return to_figure(fig, "Calibration by decile of predicted risk", alt="Observed rate against mean predicted risk for ten deciles, with the line of perfect calibration.", data="calibration")


def _draw_fairness(fair: Any, share: float) -> Figure:
    import numpy as np
    import polars as pl

    characteristics = fair["characteristic"].unique(maintain_order=True).to_list()
    fig, axes = small_multiples(len(characteristics), columns=2, panel=(4.2, 2.8))
    legend = False
    for ax, characteristic in zip(axes, characteristics):
        part = fair.filter((pl.col("characteristic") == characteristic) & pl.col("selection_rate").is_not_null())
        ax.set_title(characteristic)
        if part.height == 0:
            ax.text(0.5, 0.5, "groups too small to show", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        y = np.arange(part.height)
        sel = part["selection_rate"].to_numpy()
        tpr = np.array([v if v is not None else np.nan for v in part["tpr"].to_list()])
        ax.barh(y - 0.2, sel, 0.4, label="flagged", color=PALETTE[0])
        ax.barh(y + 0.2, tpr, 0.4, label="outcomes caught (TPR)", color=PALETTE[1])
        ax.set_yticks(y, part["group"].to_list())
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        if not legend:
            ax.legend(frameon=False, fontsize=7)
            legend = True
    return to_figure(fig, f"Fairness at a review share of {share:.0%}", alt="For each protected characteristic, bars of the share of each group flagged and of its outcomes caught; groups too small to judge are left out.", data="fairness")
