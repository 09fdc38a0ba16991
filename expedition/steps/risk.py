"""`risk`: predictive risk stratification that says honestly how good it is.

Leakage-safe split (temporal when a date is known), a regularised logistic regression and a
gradient-boosted model on structured and text features, compared with a prevalence-only baseline
and a simple rule; discrimination and calibration on held-out data with bootstrap intervals; what a
team reviewing a given share of cases would catch; risk tiers; fairness across protected groups;
and a model card. The fitted model is returned in the finding's artifacts for `expedition score`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import Field, field_validator

from expedition.errors import StepError
from expedition.steps import (
    RECORDED,
    Cell,
    Chart,
    Count,
    Derived,
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
    share,
)
from expedition.steps._model_card import model_card_document
from expedition.steps._plot import PALETTE, Drawing, drawing, new_figure, small_multiples
from expedition.steps._text import reword_finding

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
    judge. Every table that counts held-out records counts them in the same bands of each
    method's ranking (tenths, cut also at the review shares and, for the saved model, at the
    tiers' boundaries), so a count is the same count wherever it appears; what reviewing the top
    share catches, and a tier's rates, are computed from those bands. A model card (after
    Mitchell et al., 2019) records intended and out-of-scope uses.
    """

    name = "risk"
    summary = "Risk model vs simple baselines: leakage checks, calibration, tiers, fairness, model card."
    version = "3"
    Params = RiskParams
    outputs = {
        "features": "each candidate feature: missing values, single-feature AUC, used or why not",
        "held_out": "the held-out records and how many had the outcome",
        "performance": "ROC AUC, PR AUC and Brier score of each method with bootstrap 95% intervals",
        "capacity": "recall and precision when reviewing the highest-ranked share of cases",
        "gains": "each method's ranking in bands: records and outcomes per band",
        "calibration": "observed rate against predicted risk by band of the saved model's ranking",
        "tiers": "risk tiers: their bands, share of records, observed rate and share of outcomes",
        "fairness": "per protected group: selection rate, TPR, FPR, precision, calibration and ratios",
        "model_inputs": "the logistic regression's largest coefficients",
        "figure gains": "cumulative gains of every method",
        "figure calibration": "observed against predicted risk",
        "figure fairness": "share flagged and outcomes caught per protected group",
        "document model_card": "the model card (Mitchell et al., 2019)",
    }

    @classmethod
    def recode_columns(cls, params: RiskParams, columns: list[str]) -> list[str]:
        """The protected characteristics are tabulated (fairness): their rare groups are combined
        before the step runs."""
        return [c for c in params.protected or [] if c in columns]

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
        caveats: list[Any] = []
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

        # what the tables' counts count: held-out records ("test"), in bands of each method's
        # ranking; one band structure per ranking, shared by every table that counts its records
        o = Outcome(plan["outcome"], plan["outcome_value"])
        tag = _config_tag(params, primary, ctx.seed)
        capacities = sorted({*params.capacities, params.review_share})
        tier_index = np.searchsorted(np.asarray(thresholds), scores[primary], side="right")
        # the saved model's ranking starts with the review share as one band, so the fairness
        # table's flagged and caught records are that band's, counted by group
        rankings = {
            name: Ranking.of(name, order, y_test, tag, shares=[params.review_share, *capacities],
                             start=params.review_share if name == primary else 0.0, min_count=ctx.min_count)
            for name, order in orders.items()
        }
        ranked = rankings[primary]

        tables: dict[str, Table] = {}
        tables["features"] = features_table
        tables["held_out"] = _held_out_table(y_test, o)
        tables["performance"] = _performance_table(perf, methods, primary, rule_name, baseline)
        tables["capacity"] = _capacity_table(rankings, y_test, max(capacities), o)
        tables["gains"] = _gains_table(rankings, o)
        tables["calibration"] = _calibration_table(ranked, scores[primary], o)
        tables["tiers"] = _tiers_table(scores[primary], y_test, tier_index, thresholds, tier_names, f"{primary} tier [{tag}]", o)
        drivers = _drivers(fitted[primary_kind], primary_kind)
        if drivers is not None:
            tables["model_inputs"] = drivers

        # fairness --------------------------------------------------------------------------
        ctx.report(0.8, "checking fairness")
        flags = m.top_share(orders[primary], params.review_share)
        groups = _protected_groups(test, plan["protected"], caveats)
        fair_raw = None
        if groups:
            fair_raw = m.fairness_frame(y_test, scores[primary], flags, groups, min_count=ctx.min_count)
            tables["fairness"] = _fairness_table(fair_raw, ranked, params.review_share, primary, o)
        else:
            caveats.append(
                "No protected characteristic was named, so fairness across groups was not "
                "checked; name them with 'protected' (or in the data contract)."
            )

        # words -----------------------------------------------------------------------------
        ctx.report(0.9, "writing the model card")
        sizes = Sizes.of(split, o)
        metrics = _metrics(perf, gains, calibration, primary, rule_name, baseline, sizes)
        if "logistic" in fitted:
            metrics["regularisation_C"] = float(fitted["logistic"].named_steps["model"].C)
        if inputs > len(y_train):
            caveats.append(say(
                f"The model has more inputs ({inputs:,}) than training records ({{n}}): its estimates "
                "lean on regularisation and may not be stable; use more data or fewer features and text terms.",
                n=sizes.train,
                fallback=f"The model has more inputs ({inputs:,}) than training records: its estimates lean on "
                "regularisation and may not be stable; use more data or fewer features and text terms.",
            ))
        headlines = _headlines(
            perf, gains, calibration, fair_raw, rankings, params, split, sizes, primary, rule_name, leaky, plan
        )
        _calibration_caveats(calibration, caveats)
        _comparison_caveats(perf, params, caveats)
        caveats.extend(_standing_caveats(plan, split, params))
        card = model_card_document(
            plan=plan, params=params, spec=spec, split=split, sizes=sizes, calibration=calibration,
            primary=primary, caveats=caveats, min_count=ctx.min_count, dataset=ctx.dataset,
            tables=[t for t in ("held_out", "performance", "capacity", "fairness", "model_inputs") if t in tables],
            subject=ctx.subject,
        )
        figures = _charts(tables, primary, params.review_share)
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
        return reword_finding(Finding(
            step=self.name,
            title=f"Who is likely to be {plan['outcome_label']}: a risk model and its limits",
            headlines=headlines,
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            documents={"model_card": card},
            params=params.model_dump(),
            artifacts={"model": model},
        ), ctx.subject)


# --------------------------------------------------------------------------- resolving inputs


def _resolve(data: Any, params: RiskParams, ctx: StepContext, caveats: list[Any], *, step: str) -> dict[str, Any]:
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


def _split(data: Any, plan: dict[str, Any], params: RiskParams, ctx: StepContext, caveats: list[Any]) -> dict[str, Any]:
    import numpy as np
    import polars as pl

    y_all = plan["y_all"]
    known = y_all.is_not_null()
    missing = data.height - int(known.sum())
    if missing:
        caveats.append(say(
            "{n} records with no value for {outcome} are left out.",
            n=Count(missing, {plan["outcome"]: None}), outcome=plan["outcome"],
            fallback=say("Some records with no value for {outcome} are left out.", outcome=plan["outcome"]),
        ))
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
            caveats.append(say(
                "{n} records with no {date} cannot be placed in time and are left out.",
                n=Count(no_date, {plan["outcome"]: RECORDED, date: None}), date=date,
                fallback=say("Some records with no {date} cannot be placed in time and are left out.", date=date),
            ))
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


def _count(n: int, min_count: int) -> str:
    """A count for an error message (never published), shown as a range when it is small."""
    return f"fewer than {min_count}" if 0 < n < min_count else f"{n:,}"


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


def _leakage(train: Any, y: Any, plan: dict[str, Any], params: RiskParams, ctx: StepContext, caveats: list[Any]):
    """Check each feature alone; build the model's FeatureSpec from the ones that pass."""
    import polars as pl

    from expedition.steps import _models as m

    date = plan["date"]
    numeric, categorical, dates, rows = [], [], [], []
    leaky: list[tuple[str, str]] = []
    dated_after: list[Any] = []
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
                after = _after_share(offset, column, date)
                if after is not None:
                    status, used = f"dated after the prediction point ({date})", False
                    leaky.append((column, status))
                    dated_after.append(after)
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
            auc, flagged = m.leak_check(values, y, "categorical" if kind == "categorical" else "numeric",
                                        params.leakage_auc)
            if flagged is not None:
                status = flagged
                leaky.append((column, status))
                used = params.keep_leaky
        if used:
            {"numeric": numeric, "categorical": categorical, "date": dates}[kind].append(column)
        rows.append(
            {
                "feature": column,
                "type": kind,
                "missing": missing,
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
        caveats.append(m.leakage_caveat(leaky, params.keep_leaky))
    caveats.extend(dated_after)
    if date is not None:
        for column in plan["dates_in_data"]:
            if column in plan["features"] or column not in train.columns:
                continue
            offset = (_as_date(train[column]) - _as_date(train[date])).dt.total_days()
            after = _after_share(offset, column, date, use="nothing derived from it may be a feature")
            if after is not None:
                caveats.append(after)
    text = []
    for column in plan["text"]:
        empty = train[column].cast(pl.String).str.strip_chars().str.len_chars().fill_null(0) == 0
        blank = int(empty.sum())
        if n - blank < ctx.min_count:
            caveats.append(f"The text column {column} is empty (or nearly) in the training data and is left out.")
            rows.append({"feature": column, "type": "text", "missing": blank, "missing_share": float(empty.mean()), "single_feature_auc": math.nan, "used": "no", "check": "empty"})
            continue
        text.append(column)
        rows.append({"feature": column, "type": "text", "missing": blank, "missing_share": float(empty.mean()), "single_feature_auc": math.nan, "used": "yes", "check": "redacted, then TF-IDF terms"})
    table = Table(
        pl.DataFrame(
            rows,
            schema={
                "feature": pl.String,
                "type": pl.String,
                "missing": pl.Int64,
                "missing_share": pl.Float64,
                "single_feature_auc": pl.Float64,
                "used": pl.String,
                "check": pl.String,
            },
        ).with_columns(pl.col(pl.Float64).fill_nan(None)),
        {
            "feature": "label",
            "type": "label",
            "missing": "count",
            "missing_share": "rate",
            "single_feature_auc": "statistic",
            "used": "label",
            "check": "text",
        },
        title="Features and the leakage check",
        description="Each candidate feature on the training records: how many are missing (or "
        "empty text), how well it alone ranks the outcome (AUC; 0.5 is chance), whether the "
        "model uses it, and why not.",
        denominators={"missing_share": "missing"},
        dimensions=[],  # one row per feature: the rows add up to no total
        # each row counts the training records whose feature (named in the row) is missing
        keys=Keys(population=TRAIN, variables={"feature": None, "type": None, "used": None},
                  subject="feature", counts={"missing": {"@": None}}),
    )
    spec = m.FeatureSpec(numeric=numeric, categorical=categorical, dates=dates, text=text, date=date)
    return table, spec, leaky


def _after_share(offset: Any, column: str, date: str, *, use: str = "") -> Any:
    """A caveat that *column* falls after the prediction point in more than 1% of the training
    records with both dates (None when it does not); the share rests on a count of records."""
    after = int((offset > 0).sum())
    valid = int(offset.is_not_null().sum())
    if not valid or after / valid <= 0.01:
        return None
    tail = f": {use}." if use else "."
    return say(
        "{column} falls after the prediction point ({date}) in {share} of training records" + tail,
        column=column, date=date,
        share=share(Count(after, {column: f"after {date}"}, TRAIN), Count(valid, {column: RECORDED, date: RECORDED}, TRAIN),
                    after / valid, ".0%"),
        fallback=say("{column} falls after the prediction point ({date}) in some training records" + tail,
                     column=column, date=date),
    )


# --------------------------------------------------------------------------- models


#: The inverse penalties C tried for the logistic regression when 'regularisation' is not set.
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def _fit(kind: str, spec: Any, x: Any, y: Any, params: RiskParams, ctx: StepContext, caveats: list[Any], days: Any):
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


# --------------------------------------------------------------------------- what counts count


@dataclass(frozen=True)
class Outcome:
    """The outcome column and the value that counts as 'yes' (for the tables' keys)."""

    name: str
    value: str

    @property
    def yes(self) -> dict[str, Any]:
        return {self.name: self.value}


@dataclass(frozen=True)
class Sizes:
    """The training and held-out records as counts the gate can see (their own populations)."""

    train: Count
    train_positives: Count
    test: Count
    test_positives: Count

    @classmethod
    def of(cls, split: dict[str, Any], o: Outcome) -> Sizes:
        y_train, y_test = split["y_train"], split["y_test"]
        return cls(
            train=Count(len(y_train), population=TRAIN),
            train_positives=Count(int(y_train.sum()), o.yes, TRAIN),
            test=Count(len(y_test), population=TEST),
            test_positives=Count(int(y_test.sum()), o.yes, TEST),
        )


#: The populations the risk step's counts are of: the training and held-out (test) records.
TRAIN, TEST = "train", "test"
TENTHS = tuple(i / 10 for i in range(1, 10))


def _config_tag(params: RiskParams, primary: str, seed: int) -> str:
    """A short digest of what made the rankings: two risk steps configured differently rank
    the same held-out records differently, so their bands must not share a name."""
    text = json.dumps([params.model_dump(mode="json"), primary, seed], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _pct(share: float) -> str:
    return f"{share * 100:.3g}"


def _share_label(share: float) -> str:
    return f"top {_pct(share)}%"


@dataclass(frozen=True)
class Band:
    """The held-out records ranked from position *start* up to *stop* (highest risk first)."""

    label: str
    start: int
    stop: int
    share_from: float
    share_to: float
    reviewed: int
    caught: int


@dataclass(frozen=True)
class Ranking:
    """One method's ranking of the held-out records, cut into bands.

    Every table that counts records of a ranking — gains, capacity, calibration and fairness —
    counts them in these bands, under one variable, so the disclosure gate sees the same count
    wherever it appears and how the bands add up. Cumulative figures (what reviewing the top 10%
    catches) are rates computed from several bands and are withheld when any of them is
    suppressed; they are never published as counts, which the gate could not link to the
    bands they are made of.
    """

    method: str
    variable: str
    order: Any
    bands: tuple[Band, ...]

    @classmethod
    def of(cls, method: str, order: Any, y: Any, tag: str, *, shares: list[float], start: float = 0.0,
           min_count: int) -> Ranking:
        """Bands cut at the review *shares*, then at the tenths that leave every band at least
        *min_count* records; with *start*, the first band is the top *start* share whole."""
        import numpy as np

        n = len(order)

        def position(share: float) -> int:
            return min(n, int(math.ceil(share * n - 1e-9)))

        cuts: dict[int, float] = {}
        if start > 0 and position(start) > 0:
            cuts[position(start)] = start
        for share_ in shares:
            if share_ >= start and position(share_) > 0:
                cuts.setdefault(position(share_), share_)
        cuts.setdefault(n, 1.0)
        for share_ in TENTHS:
            p = position(share_)
            if share_ > start and p not in cuts and p >= min_count and all(abs(p - q) >= min_count for q in cuts):
                cuts[p] = share_
        bands = []
        first, share_from = 0, 0.0
        for stop in sorted(cuts):
            share_to = cuts[stop]
            bands.append(Band(
                label=f"{_pct(share_from)}–{_pct(share_to)}%", start=first, stop=stop,
                share_from=share_from, share_to=share_to,
                reviewed=stop - first, caught=int(np.sum(y[order[first:stop]])),
            ))
            first, share_from = stop, share_to
        return cls(method, f"{method} ranking [{tag}]", order, tuple(bands))

    def members(self, band: Band) -> Any:
        return self.order[band.start:band.stop]

    def upto(self, share: float) -> list[Band]:
        return [b for b in self.bands if b.share_to <= share + 1e-12]


def _band_keys(o: Outcome, reviewed: str, caught: str, **extra: Any) -> Keys:
    """Keys for a table of ranking bands stacked by method (``ranking`` names the variable)."""
    return Keys(population=TEST, variables={"method": None, **extra}, pairs=("ranking", "band"),
                counts={reviewed: {}, caught: o.yes})


# --------------------------------------------------------------------------- tables


def _held_out_table(y: Any, o: Outcome) -> Table:
    import polars as pl

    n, positives = len(y), int(y.sum())
    return Table(
        pl.DataFrame({"records": [n], "with_outcome": [positives], "outcome_rate": [positives / n]}),
        {"records": "count", "with_outcome": "count", "outcome_rate": "rate"},
        title="The held-out records",
        description=f"The records the models were judged on, and how many had {o.name} = {o.value}.",
        denominators={"outcome_rate": ["with_outcome", "records"]},
        keys=Keys(population=TEST, counts={"records": {}, "with_outcome": o.yes}),
    )


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
        dimensions=[],
    )


def _gains_table(rankings: dict[str, Ranking], o: Outcome) -> Table:
    import polars as pl

    rows = []
    for r in rankings.values():
        for b in r.bands:
            rows.append({"method": r.method, "ranking": r.variable, "band": b.label, "share_from": b.share_from,
                         "share_to": b.share_to, "reviewed": b.reviewed, "caught": b.caught,
                         "caught_rate": b.caught / b.reviewed if b.reviewed else None})
    frame = pl.DataFrame(rows, schema_overrides={"caught_rate": pl.Float64})
    return Table(
        frame,
        {"method": "label", "ranking": "label", "band": "label", "share_from": "statistic", "share_to": "statistic",
         "reviewed": "count", "caught": "count", "caught_rate": "rate"},
        title="Cumulative gains: the held-out records in bands of each method's ranking",
        description="Each method ranks the held-out records from highest to lowest risk; each band "
        "(e.g. 10–20%: the records ranked in the second tenth) holds how many records it has and "
        f"how many of them had {o.name} = {o.value}. Adding the bands from the top gives the "
        "share of outcomes caught by reviewing the highest-ranked share of cases.",
        denominators={"caught_rate": ["caught", "reviewed"]},
        dimensions=["band"],
        keys=_band_keys(o, "reviewed", "caught"),
    )


def _capacity_table(rankings: dict[str, Ranking], y: Any, top: float, o: Outcome) -> Table:
    """Per method and capacity, the bands the capacity covers (linked to the gains table's
    bands), and on its last band the cumulative recall and precision; those are withheld when
    any of the capacity's bands has a suppressed count, and only then."""
    import numpy as np
    import polars as pl

    from expedition.steps._models import wilson

    positives = int(np.sum(y))
    rows = []
    for r in rankings.values():
        covered = r.upto(top)
        for i, last in enumerate(covered):
            bands = covered[: i + 1]
            reviewed, caught = sum(b.reviewed for b in bands), sum(b.caught for b in bands)
            (r_low,), (r_high,) = wilson(np.array([caught]), np.array([positives]))
            (p_low,), (p_high,) = wilson(np.array([caught]), np.array([reviewed]))
            figures = {"recall": caught / positives, "recall_low": float(r_low), "recall_high": float(r_high),
                       "precision": caught / reviewed, "precision_low": float(p_low), "precision_high": float(p_high)}
            for b in bands:
                rows.append({"method": r.method, "ranking": r.variable, "capacity": _share_label(last.share_to),
                             "share": last.share_to, "band": b.label, "in_band_reviewed": b.reviewed,
                             "in_band_caught": b.caught, **({k: v for k, v in figures.items()} if b is last
                                                            else dict.fromkeys(figures))})
    cumulative = ["recall", "recall_low", "recall_high", "precision", "precision_low", "precision_high"]
    frame = pl.DataFrame(rows, schema_overrides={c: pl.Float64 for c in cumulative})
    return Table(
        frame,
        {"method": "label", "ranking": "label", "capacity": "label", "share": "statistic", "band": "label",
         "in_band_reviewed": "count", "in_band_caught": "count", **{c: "rate" for c in cumulative}},
        title="What a team reviewing the highest-risk cases would catch",
        description="On the held-out records: reviewing the highest-ranked share of cases (the "
        "capacity), how many with the outcome are caught (recall) and what share of those "
        "reviewed have it (precision), with Wilson 95% intervals, on the last row of each "
        "capacity. The rows above it are the bands of the ranking the capacity covers (their "
        "records and outcomes; see the gains table); equal scores are taken in a fixed random "
        "order. A capacity's figures are withheld when a count of one of its bands is suppressed. "
        "For the saved model the bands start at the review share, so that the fairness table's "
        "counts are counts of one band.",
        derived={c: Derived(("in_band_reviewed", "in_band_caught"), ("method", "capacity")) for c in cumulative},
        dimensions=[],  # a capacity's bands are a prefix of the ranking: they add up to no total here
        keys=_band_keys(o, "in_band_reviewed", "in_band_caught", capacity=None),
    )


def _calibration_table(ranked: Ranking, scores: Any, o: Outcome) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps._models import wilson

    rows = []
    for b in reversed(ranked.bands):  # lowest risk first
        s = scores[ranked.members(b)]
        rows.append({"band": b.label, "n": b.reviewed, "observed": b.caught, "mean_predicted": float(np.mean(s)),
                     "predicted_from": float(np.min(s)), "predicted_to": float(np.max(s))})
    frame = pl.DataFrame(rows)
    low, high = wilson(frame["observed"].to_numpy(), frame["n"].to_numpy())
    frame = frame.with_columns(
        (pl.col("observed") / pl.col("n")).alias("observed_rate"),
        pl.Series("ci_low", low),
        pl.Series("ci_high", high),
    ).select("band", "n", "observed", "observed_rate", "ci_low", "ci_high", "mean_predicted", "predicted_from", "predicted_to")
    return Table(
        frame,
        {
            "band": "label",
            "n": "count",
            "observed": "count",
            "observed_rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "mean_predicted": "statistic",
            "predicted_from": "statistic",
            "predicted_to": "statistic",
        },
        title="Calibration: observed rate against predicted risk, by band of risk",
        description="The held-out records in bands of the saved model's ranking (mostly tenths; "
        "0–10% holds the highest risks), lowest risk first; a well-calibrated model's observed "
        "rates (with Wilson 95% intervals) match its mean predicted risks.",
        denominators={
            "observed_rate": ["observed", "n"],
            "ci_low": ["observed", "n"],
            "ci_high": ["observed", "n"],
            "mean_predicted": "n",
            "predicted_from": "n",
            "predicted_to": "n",
        },
        dimensions=["band"],
        keys=Keys(population=TEST, variables={"band": ranked.variable}, counts={"n": {}, "observed": o.yes}),
    )


def _tiers_table(scores: Any, y: Any, tier_index: Any, thresholds: list[float], names: list[str],
                 variable: str, o: Outcome) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps._models import wilson

    positives = int(np.sum(y))
    bounds = [0.0, *thresholds, 1.0]
    rows = []
    for i, name in enumerate(names):
        member = tier_index == i
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
        (pl.col("n") / len(y)).alias("share_of_records"),
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
            "share_of_records": "rate",
            "observed_rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
            "share_of_outcomes": "rate",
        },
        title="Risk tiers on the held-out records",
        description="Tiers are cut at fixed risks (quantiles of the training records' risks), so "
        "`expedition score` assigns new records the same way. Each tier's records and outcomes, "
        "its share of the records, its observed rate (Wilson 95% interval) and its share of all "
        "outcomes.",
        denominators={
            "mean_predicted": "n",
            "share_of_records": "n",
            "observed_rate": ["positives", "n"],
            "ci_low": ["positives", "n"],
            "ci_high": ["positives", "n"],
            "share_of_outcomes": "positives",
        },
        dimensions=["tier"],
        keys=Keys(population=TEST, variables={"tier": variable}, counts={"n": {}, "positives": o.yes}),
    )


def _fairness_table(fair: Any, ranked: Ranking, share: float, primary: str, o: Outcome) -> Table:
    """The fairness frame, keyed: its flagged records and outcomes caught are the counts, by
    group, of the saved model's first band (the review share), so they add up to that band's
    counts in the gains and capacity tables; each rate is withheld with the counts of its row."""
    from expedition.steps import _models as m

    band = ranked.bands[0]  # the review share (see `Ranking.of`'s start)
    return Table(
        fair,
        dict(m.FAIRNESS_KINDS),
        title=f"Fairness at a review share of {share:.0%} ({primary})",
        description="Per protected group on the held-out records: records, with the outcome, "
        "flagged for review and caught; selection rate, true- and false-positive rates, "
        "precision, observed rate against mean predicted risk, AUC within the group, and ratios "
        "to the largest group. Groups (or rates) resting on fewer records than the disclosure "
        "threshold are too small to judge.",
        denominators=dict(m.FAIRNESS_DENOMINATORS),
        dimensions=["group"],
        keys=Keys(population=TEST, pairs=("characteristic", "group"),
                  counts={"n": {}, "positives": o.yes, "flagged": {ranked.variable: band.label},
                          "caught": {ranked.variable: band.label, **o.yes}}),
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
        dimensions=[],
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


def _protected_groups(test: Any, protected: list[str], caveats: list[Any]) -> dict[str, Any]:
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


def _metrics(perf, gains, calibration, primary, rule, baseline, sizes: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {
        "train_records": sizes.train,
        "test_records": sizes.test,
        "train_rate": share(sizes.train_positives, sizes.train),
        "test_rate": share(sizes.test_positives, sizes.test),
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


def _headlines(perf, gains, calibration, fair, rankings: dict[str, Ranking], params, split, sizes: Sizes, primary,
               rule, leaky, plan) -> list[Any]:
    out: list[Any] = []
    p = perf[primary]["auc"]
    outcome = plan["outcome_label"]
    temporal = split["split"] == "temporal"
    period = f"from {split['test_period'][0]}" if split.get("test_period") else "held out at random"
    which = "later records ({period})" if temporal else "held-out records"
    auc = f"AUC {p.estimate:.2f} (95% CI {p.low:.2f}–{p.high:.2f}"
    if p.low <= 0.5:
        tail = (" the {model} does no better than chance at ranking who is {outcome}: " + auc
                + "; 0.5 is chance). It should not be used.")
        out.append(say("On {n} " + which + "," + tail, n=sizes.test, period=period, model=primary, outcome=outcome,
                       fallback=say("On " + which + "," + tail, period=period, model=primary, outcome=outcome)))
    else:
        tail = " the {model} ranks a case with {outcome} above one without with " + auc + ")"
        slots: dict[str, Any] = {"period": period, "model": primary, "outcome": outcome}
        if rule in perf:
            tail += f"; the simple rule ({{rule}}) reaches {perf[rule]['auc'].estimate:.2f}"
            slots["rule"] = rule.removeprefix("rule: ")
        tail += ", and guessing from the overall rate 0.50."
        out.append(say("On {n} " + which + "," + tail, n=sizes.test, **slots,
                       fallback=say("On " + which + "," + tail, **slots)))
    label = _share_label(params.review_share)

    def at(method: str, column: str) -> Cell:
        # the capacity's figures sit on its last band's row
        last = [b for b in rankings[method].upto(params.review_share)][-1]
        return Cell("capacity", column, {"method": method, "capacity": label, "band": last.label}, ".0%")

    if p.low > 0.5 and rule in gains:
        out.append(_rule_comparison(gains[rule], rankings, primary, rule, label, params.review_share, outcome, at))

    template = ("If the team can review the {label} of cases by risk, the model catches {recall} of those "
                "{outcome} (95% CI {low}–{high}) with precision {precision}")
    slots = {"label": label, "outcome": outcome, "recall": at(primary, "recall"), "low": at(primary, "recall_low"),
             "high": at(primary, "recall_high"), "precision": at(primary, "precision")}
    random = f"; reviewing at random would catch about {params.review_share:.0%}."
    fallback = say("What reviewing the {label} of cases by risk would catch rests on counts too small to "
                   "publish (see the capacity table).", label=label)
    if rule in perf:
        out.append(say(template + "; the simple rule catches {r_recall} with precision {r_precision}" + random,
                       **slots, r_recall=at(rule, "recall"), r_precision=at(rule, "precision"),
                       fallback=say(template + random, **slots, fallback=fallback)))
    else:
        out.append(say(template + random, **slots, fallback=fallback))
    if calibration:
        slope = calibration["calibration_slope"]
        low, high = calibration["calibration_slope_low"], calibration["calibration_slope_high"]
        if low <= 1 <= high:
            out.append(f"Predicted risks are consistent with observed rates (calibration slope {slope:.2f}, 95% CI {low:.2f}–{high:.2f}).")
        elif slope < 1:
            out.append(f"Predicted risks are too extreme for later cases (calibration slope {slope:.2f}, 95% CI {low:.2f}–{high:.2f}; 1 is ideal): treat them as a ranking, not as probabilities.")
        else:
            out.append(f"Predicted risks are too cautious (calibration slope {slope:.2f}, 95% CI {low:.2f}–{high:.2f}; 1 is ideal): treat them as a ranking, not as probabilities.")
    out.extend(_fairness_headlines(fair))
    if leaky:
        from expedition.steps._models import leakage_headline

        out.append(leakage_headline(leaky, params.keep_leaky))
    return out


def _caught(ranking: Ranking, share: float) -> int:
    """The outcomes among the top *share* of a ranking, as the capacity table adds them up."""
    return sum(b.caught for b in ranking.upto(share))


def _rule_comparison(g: Any, rankings: dict[str, Ranking], primary: str, rule: str, label: str, share: float,
                     outcome: str, at: Any) -> Any:
    """The model against the simple rule, overall (the AUC difference) and at the review share
    (the capacity table's recall of each): when the two disagree, the sentence says so rather
    than calling the model better where the rule catches more."""
    verdict = "better than" if g.low > 0 else "not clearly better than"
    overall = (f"Ranking all cases, the model is {verdict} the simple rule (AUC difference {g.estimate:+.2f}, "
               f"95% CI {g.low:+.2f} to {g.high:+.2f})")
    model, simple = _caught(rankings[primary], share), _caught(rankings[rule], share)
    positives = sum(b.caught for b in rankings[primary].bands)
    cells = (at(primary, "recall"), at(rule, "recall"))
    for digits in (1, 2):  # enough digits that two different recalls read differently
        if model == simple or f"{model / positives:{cells[0].format}}" != f"{simple / positives:{cells[0].format}}":
            break
        cells = tuple(replace(c, format=f".{digits}%") for c in cells)
    slots: dict[str, Any] = {"label": label, "outcome": outcome, "recall": cells[0], "r_recall": cells[1]}
    if simple > model:
        clause = ("; but reviewing the {label} of cases by risk, the simple rule catches {more} of those {outcome} "
                  "({r_recall} against the model's {recall})")
        slots["more"] = Value("more", sources=cells)
    elif model > simple:
        clause = ("; reviewing the {label} of cases by risk, the model " + ("also " if g.low > 0 else "")
                  + "catches {more} of those {outcome} ({recall} against the rule's {r_recall})")
        slots["more"] = Value("more", sources=cells)
    else:
        clause = "; reviewing the {label} of cases by risk, both catch {recall} of those {outcome}"
    return say(overall + clause + ".", **slots, fallback=overall + ".")


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


def _fairness_headlines(fair: Any) -> list[Any]:
    """A sentence per group that clearly differs from the largest group. Each difference rests
    on both groups' counts in the published fairness table, so it is left out of the sentence
    when one of them is suppressed there."""
    import polars as pl

    if fair is None:
        return []
    rests_on = {"flagged": ("n", "flagged"), "outcomes caught": ("positives", "caught"),
                "observed against predicted": ("n", "positives")}
    out: list[Any] = []
    for characteristic in fair["characteristic"].unique(maintain_order=True).to_list():
        part = fair.filter((pl.col("characteristic") == characteristic) & pl.col("selection_rate").is_not_null())
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
                    text = f"is flagged for review {ratio:.2f} times as often as the largest group"
                elif what == "outcomes caught":
                    text = f"has {ratio:.2f} times the share of its outcomes caught"
                else:
                    text = (f"has an observed rate of {row['observed_rate']:.0%} where the model predicts "
                            f"{row['mean_predicted']:.0%}")
                sources = tuple(
                    Cell("fairness", c, {"characteristic": characteristic, "group": g})
                    for g in (row["group"], ref["group"]) for c in rests_on[what]
                )
                parts.append(Value(text, sources=sources))
            slots = {"characteristic": characteristic, "group": str(row["group"]), "ref": str(ref["group"])}
            out.append(say(
                "Fairness, {characteristic}: group {group} {gaps} (against {ref}, the largest group; p < 0.05). "
                "This calls for a closer look before any use.",
                gaps=Items(tuple(parts), "{n} more difference resting on counts that cannot be published"),
                **slots,
                fallback=say("Fairness, {characteristic}: group {group} differs clearly from {ref}, the largest "
                             "group, but the numbers rest on counts that cannot be published. This calls for a "
                             "closer look before any use.", **slots),
            ))
    if not out and fair.height:
        out.append(
            "No protected group large enough to judge clearly differs from the largest group "
            "(a ratio outside 0.8–1.25 with p < 0.05) in how often it is flagged, how many of its "
            "outcomes are caught, or observed against predicted risk; small groups can hide "
            "differences, so read the fairness table too."
        )
    return out


def _calibration_caveats(calibration: dict, caveats: list[Any]) -> None:
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


def _comparison_caveats(perf: dict, params: RiskParams, caveats: list[Any]) -> None:
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


def _standing_caveats(plan: dict, split: dict, params: RiskParams) -> list[Any]:
    out: list[Any] = []
    if split["split"] == "temporal":
        if params.outcome_window_days is None:
            out.append(
                "No outcome_window_days was given: training records close to the test period may "
                "have outcomes that were only known later. Set it to the length of the outcome "
                "window (e.g. 365) for a strictly leakage-safe split."
            )
        elif split["gap_rows"]:
            rest = (f" in the {params.outcome_window_days}-day gap before the test period were used for "
                    "neither training nor testing, as their outcomes were not yet known when the test period began.")
            out.append(say("{n} records" + rest, n=Count(split["gap_rows"], population="gap"),
                           fallback="Some records" + rest))
    else:
        out.append(
            "No prediction date was given, so the split is random: the model is tested on cases "
            "from the same period it learnt from, which flatters it. Name a date with 'date'."
        )
    out.append(say(
        "The model predicts {outcome} as it was recorded, which reflects past decisions about who was "
        "referred and how; a risk score can carry those patterns forward.", outcome=plan["outcome_label"],
    ))
    out.append(
        "A risk score supports professional judgement about which cases to review first; it must "
        "never decide anything about a child or family by itself."
    )
    return out


# --------------------------------------------------------------------------- figures


def _charts(tables: dict[str, Table], primary: str, review_share: float) -> dict[str, Chart]:
    charts = {
        "performance": Chart(
            "Discrimination: models against simple baselines", "risk.performance", "performance",
            alt="Dot plot of ROC AUC with 95% intervals for each model, the simple rule and the overall-rate baseline.",
        ),
        "gains": Chart(
            "Cumulative gains: what reviewing the highest-risk cases catches", "risk.gains", "gains",
            alt="Lines showing the share of outcomes caught against the share of cases reviewed, for each "
            "method; a line stops where a band's count is suppressed.",
            also=("held_out",),
        ),
        "calibration": Chart(
            "Calibration by band of predicted risk", "risk.calibration", "calibration",
            alt="Observed rate against mean predicted risk for each band of the saved model's ranking, with "
            "the line of perfect calibration.",
            options={"primary": primary},
        ),
    }
    if "fairness" in tables:
        charts["fairness"] = Chart(
            f"Fairness at a review share of {review_share:.0%}", "risk.fairness", "fairness",
            alt="For each protected characteristic, bars of the share of each group flagged and of its "
            "outcomes caught; groups too small to judge are marked, not drawn.",
            options={"share": review_share},
        )
    return charts


@drawing("risk.performance")
def draw_performance(d: Drawing) -> Any:
    import numpy as np

    perf = d.frame
    fig, ax = new_figure(6.5, 0.6 + 0.45 * perf.height)
    names = perf["method"].to_list()[::-1]
    auc = np.array(d.values("auc")[::-1])
    low = np.array(d.values("auc_low")[::-1])
    high = np.array(d.values("auc_high")[::-1])
    y = np.arange(len(names))
    colours = [PALETTE[0] if str(r).startswith("model") else PALETTE[5] for r in perf["role"].to_list()[::-1]]
    ax.scatter(auc, y, color=colours, zorder=3)
    ax.errorbar(auc, y, xerr=[np.nan_to_num(auc - low), np.nan_to_num(high - auc)], fmt="none", ecolor="#333333", lw=1)
    ax.axvline(0.5, color="#999999", lw=0.8, ls="--")
    ax.set_yticks(y, names)
    ax.set_xlim(0.4, 1.0)
    ax.set_xlabel("ROC AUC on held-out records (95% bootstrap interval; 0.5 = chance)")
    return fig


@drawing("risk.gains")
def draw_gains(d: Drawing) -> Any:
    """Each method's share of outcomes caught, band by band from the top of its ranking: the
    line stops at the first band whose count is suppressed (what follows cannot be added up)."""
    import polars as pl

    total = d.values("with_outcome", table="held_out")[0]
    fig, ax = new_figure(5.5, 4.0)
    frame = d.frame.with_row_index("__row")
    hidden = d.hidden("caught")
    for i, name in enumerate(frame["method"].unique(maintain_order=True).to_list()):
        part = frame.filter(pl.col("method") == name)
        xs, ys, caught = [0.0], [0.0], 0.0
        for row, to, value in zip(part["__row"].to_list(), part["share_to"].to_list(), d.values("caught", frame=part)):
            if hidden[row] or value != value or total != total:
                break
            caught += value
            xs.append(float(to))
            ys.append(caught / total)
        style = "--" if str(name).startswith("baseline") else "-"
        ax.plot(xs, ys, style, label=str(name), color=PALETTE[i % len(PALETTE)])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"share of {(d.options.get('subject') or ['case', 'cases'])[1]} reviewed, highest risk first")
    ax.set_ylabel("share of outcomes caught")
    ax.legend(frameon=False, fontsize=8)
    return fig


@drawing("risk.calibration")
def draw_calibration(d: Drawing) -> Any:
    """Observed rate against mean predicted risk per band; a band whose counts are suppressed
    cannot be placed, so it is counted in a note instead of drawn."""
    import numpy as np

    cal = d.frame
    x = np.array(d.values("mean_predicted"))
    y = np.array(d.values("observed_rate"))
    low = np.array(d.values("ci_low"))
    high = np.array(d.values("ci_high"))
    shown = np.isfinite(x) & np.isfinite(y)
    fig, ax = new_figure(4.8, 4.2)
    top = float(np.nanmax([*x[shown], *high[shown], 0.05])) if shown.any() else 1.0
    ax.plot([0, top], [0, top], color="#999999", lw=0.8, ls="--")
    ax.errorbar(x[shown], y[shown], yerr=[np.nan_to_num(y[shown] - low[shown]), np.nan_to_num(high[shown] - y[shown])],
                fmt="o", color=PALETTE[0], ecolor="#333333", lw=0.8)
    missing = int(cal.height - shown.sum())
    if missing:
        ax.text(0.01, 0.98, f"{missing} band(s) not drawn: their counts are suppressed ({d.rules.symbol})",
                transform=ax.transAxes, va="top", fontsize=7, color="#555555")
    ax.set_xlabel(f"mean predicted risk ({d.options['primary']})")
    ax.set_ylabel("observed rate (95% CI)")
    return fig


@drawing("risk.fairness")
def draw_fairness(d: Drawing) -> Any:
    """Per characteristic, each group's share flagged and share of its outcomes caught; a group
    too small to judge, or whose rates are suppressed, is marked as suppressed."""
    import numpy as np
    import polars as pl

    from expedition.steps._plot import mark_suppressed_bars

    fair = d.frame.with_row_index("__row")
    hidden_sel = d.hidden("selection_rate")
    characteristics = fair["characteristic"].unique(maintain_order=True).to_list()
    fig, axes = small_multiples(len(characteristics), columns=2, panel=(4.2, 2.8))
    legend = False
    for ax, characteristic in zip(axes, characteristics):
        part = fair.filter(pl.col("characteristic") == characteristic)
        ax.set_title(characteristic)
        y = np.arange(part.height)
        sel = np.array(d.values("selection_rate", frame=part))
        tpr = np.array(d.values("tpr", frame=part))
        ax.barh(y[np.isfinite(sel)] - 0.2, sel[np.isfinite(sel)], 0.4, label="flagged", color=PALETTE[0])
        ax.barh(y[np.isfinite(tpr)] + 0.2, tpr[np.isfinite(tpr)], 0.4, label="outcomes caught (TPR)", color=PALETTE[1])
        ax.set_yticks(y, part["group"].to_list())
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        gone = [float(i) for i, (row, v) in enumerate(zip(part["__row"].to_list(), sel)) if hidden_sel[row] or v != v]
        mark_suppressed_bars(ax, gone, 0.8, horizontal=True, symbol=d.rules.symbol)
        if not legend and np.isfinite(sel).any():
            ax.legend(frameon=False, fontsize=7)
            legend = True
    return fig
