"""The model card the `risk` step writes (after Mitchell et al., "Model Cards for Model
Reporting", 2019): model details, intended and out-of-scope uses, training and evaluation data,
metrics, fairness results, limitations, ethical considerations and human oversight.

It is built only from tables that have passed disclosure control, so no count below the
threshold appears in it; the pack publishes it after redaction like any other document.
"""

from __future__ import annotations

from typing import Any


def _count(n: int, min_count: int) -> str:
    return f"fewer than {min_count}" if 0 < n < min_count else f"{n:,}"


def _md_table(
    frame: Any, columns: dict[str, str], formats: dict[str, str] | None = None, counts: tuple[str, ...] = ()
) -> str:
    """A markdown table; a suppressed count shows as "c", any other missing value as "—"."""
    formats = formats or {}
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    lines = [head, rule]
    for row in frame.iter_rows(named=True):
        cells = []
        for key in columns:
            value = row.get(key)
            if value is None:
                cells.append("c" if key in counts else "—")
            elif isinstance(value, float):
                fmt = formats.get(key, ".2f")
                cells.append(format(value, fmt))
            elif isinstance(value, int):
                cells.append(f"{value:,}")
            else:
                cells.append(str(value).replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_card(*, plan, params, spec, split, safe, metrics, primary, caveats, min_count, dataset) -> str:
    """A model card after Mitchell et al. (2019), built only from disclosure-safe tables."""
    import polars as pl

    outcome = plan["outcome_label"]
    n_train, n_test = len(split["y_train"]), len(split["y_test"])
    inputs = []
    if spec.numeric:
        inputs.append("numbers: " + ", ".join(spec.numeric))
    if spec.categorical:
        inputs.append("categories: " + ", ".join(spec.categorical))
    if spec.dates:
        inputs.append("dates (as days before the prediction point): " + ", ".join(spec.dates))
    if spec.text:
        inputs.append("free text, redacted then TF-IDF terms: " + ", ".join(spec.text))
    period = ""
    if split.get("train_period"):
        period = (
            f" Training records span {split['train_period'][0]} to {split['train_period'][1]}; "
            f"test records {split['test_period'][0]} to {split['test_period'][1]}."
        )
    perf = safe["performance"]
    cap = safe["capacity"].filter(pl.col("method") == primary)
    lines = [
        f"# Model card: predicting {outcome}",
        "",
        "## Model details",
        "",
        f"- **Model:** {primary} (scikit-learn pipeline), made by the expedition `risk` step"
        f" on dataset `{dataset or 'unnamed'}`.",
        f"- **Predicts:** the probability that a case has {outcome}.",
        "- **Inputs:** " + ("; ".join(inputs) if inputs else "none") + ".",
        "- **Protected characteristics** "
        + (
            ("(" + ", ".join(plan["protected"]) + ") are "
             + ("used as inputs" if params.use_protected else "not inputs; they are used only to check fairness") + ".")
            if plan["protected"]
            else "were not named, so fairness was not checked."
        ),
        f"- **Split:** {split['description']}.",
        "- **Saved with** its pipeline, parameters, the SHA-256 of its training records and the "
        "package versions; `expedition score` refuses to apply it under incompatible versions.",
        "",
        "## Intended use",
        "",
        "- To help a team decide **which closed cases to review first**, as one input to "
        "professional judgement, with capacity-based thresholds (see Metrics).",
        "- To understand, in aggregate, which recorded factors go with the outcome.",
        "",
        "## Out-of-scope uses",
        "",
        "- **Any automated decision about an individual child or family** — opening, closing or "
        "escalating a case, or withholding a service — without a professional's review.",
        "- Use on a population, period or recording practice unlike the training data without "
        "re-validation.",
        "- Treating the score as a probability for an individual, or as a cause of the outcome.",
        "",
        "## Training and evaluation data",
        "",
        f"- Training: {_count(n_train, min_count)} records, of which {metrics['train_rate']:.1%} had {outcome}.",
        f"- Evaluation: {_count(n_test, min_count)} held-out records, {metrics['test_rate']:.1%} with {outcome}.{period}",
        "- Personal data in free text was redacted (UK postcodes, NHS and National Insurance "
        "numbers, phone numbers, e-mail addresses, dates of birth, names in context) before any "
        f"term was counted; terms in fewer than {min_count} documents were never inputs.",
        "",
        "## Metrics (held-out records)",
        "",
        _md_table(
            perf,
            {"method": "method", "auc": "ROC AUC", "auc_low": "low", "auc_high": "high", "pr_auc": "PR AUC", "brier": "Brier"},
            {"auc": ".3f", "auc_low": ".3f", "auc_high": ".3f", "pr_auc": ".3f", "brier": ".4f"},
        ),
        "",
        "Reviewing the highest-risk cases:",
        "",
        _md_table(
            cap,
            {"capacity": "reviewed", "reviewed": "cases", "caught": "outcomes caught", "recall": "recall", "precision": "precision"},
            {"recall": ".1%", "precision": ".1%"},
            counts=("reviewed", "caught"),
        ),
        "",
    ]
    if "calibration_slope" in metrics:
        lines += [
            f"Calibration slope {metrics['calibration_slope']:.2f} (95% CI {metrics['calibration_slope_low']:.2f}–"
            f"{metrics['calibration_slope_high']:.2f}; 1 is ideal), calibration-in-the-large "
            f"{metrics['calibration_intercept']:+.2f} (0 is ideal).",
            "",
        ]
    lines += ["## Fairness results", ""]
    if "fairness" in safe:
        fair = safe["fairness"]
        lines += [
            f"At a review share of {params.review_share:.0%}. Groups with fewer than {min_count} "
            "records are too small to judge; `c` marks a suppressed count.",
            "",
            _md_table(
                fair,
                {
                    "characteristic": "characteristic",
                    "group": "group",
                    "n": "records",
                    "selection_rate": "flagged",
                    "tpr": "TPR",
                    "fpr": "FPR",
                    "precision": "precision",
                    "observed_rate": "observed",
                    "mean_predicted": "predicted",
                    "selection_rate_ratio": "flagged ratio",
                    "tpr_ratio": "TPR ratio",
                    "note": "note",
                },
                {
                    "selection_rate": ".1%",
                    "tpr": ".1%",
                    "fpr": ".1%",
                    "precision": ".1%",
                    "observed_rate": ".1%",
                    "mean_predicted": ".1%",
                },
                counts=("n",),
            ),
            "",
        ]
    else:
        lines += ["Not checked: no protected characteristic was named.", ""]
    if "model_inputs" in safe:
        lines += [
            "## What the model leans on",
            "",
            _md_table(safe["model_inputs"].head(10), {"input": "input", "odds_ratio": "odds ratio"}),
            "",
        ]
    lines += [
        "## Limitations",
        "",
        *[f"- {c}" for c in caveats],
        "",
        "## Ethical considerations",
        "",
        "- The outcome is what was recorded, shaped by past referral and assessment decisions; "
        "groups that were over- or under-referred in the past can be over- or under-scored now.",
        "- A score attached to a family can stigmatise; scores are personal data, stored in "
        "`data/processed/`, never published, and deleted with the project's data.",
        "- Published evaluations of such models in children's social care found modest "
        "precision: most flagged cases will not have the outcome, and many that do will not be "
        "flagged.",
        "",
        "## Human oversight",
        "",
        "- A qualified practitioner reviews every case before any action; the score only orders "
        "the queue and can be overridden without justification.",
        "- The team re-checks discrimination, calibration and fairness on each new delivery "
        "(`expedition run`) before scores are used, and stops using the model if they degrade.",
        "- Families can ask how a decision about them was made; the transparency record names "
        "this model and its limits.",
        "",
    ]
    return "\n".join(lines)
