"""The model card the `risk` step declares (after Mitchell et al., "Model Cards for Model
Reporting", 2019): model details, intended and out-of-scope uses, training and evaluation data,
metrics, fairness results, limitations, ethical considerations and human oversight.

The step declares the card as a `Document`: which of its tables the card shows, the numbers it
quotes (the training and evaluation sizes as counts of their populations, the limitations'
sentences with their slots) and plain settings. `render_model_card` writes the Markdown after the
disclosure gate, from the gated tables and values only, so a count suppressed anywhere in the
finding is suppressed in the card too (shown as the suppression symbol, or the sentence's
wording without the number).
"""

from __future__ import annotations

from typing import Any

from expedition.finding import Cell, Count, Document, Items, Sentence, Value
from expedition.steps._plot import Drawing, document

#: How a value that is missing (not suppressed) is shown in a table.
MISSING = "—"


def model_card_document(*, plan, params, spec, split, sizes, calibration, primary, caveats, min_count,
                        dataset, tables: list[str], subject: tuple[str, str] = ("record", "records")) -> Document:
    """The card as a declared document of the finding's *tables* and the gate-checked values."""
    inputs = []
    if spec.numeric:
        inputs.append("numbers: " + ", ".join(spec.numeric))
    if spec.categorical:
        inputs.append("categories: " + ", ".join(spec.categorical))
    if spec.dates:
        inputs.append("dates (as days before the prediction point): " + ", ".join(spec.dates))
    if spec.text:
        inputs.append("free text, redacted then TF-IDF terms: " + ", ".join(spec.text))
    values: dict[str, Any] = {
        "train_records": sizes.train,
        "test_records": sizes.test,
        "train_rate": Value(sizes.train_positives.value / sizes.train.value, ".1%", (sizes.train_positives, sizes.train)),
        "test_rate": Value(sizes.test_positives.value / sizes.test.value, ".1%", (sizes.test_positives, sizes.test)),
    }
    limitations = [sentence_spec(c, f"caveat {i + 1}", values) for i, c in enumerate(caveats)]
    options = {
        "outcome": plan["outcome_label"],
        "primary": primary,
        "dataset": dataset or "unnamed",
        "inputs": inputs,
        "protected": list(plan["protected"]),
        "use_protected": bool(params.use_protected),
        "split": split["description"],
        "train_period": split.get("train_period"),
        "test_period": split.get("test_period"),
        "review_share": params.review_share,
        "min_count": min_count,
        "calibration": {k: float(v) for k, v in calibration.items()},
        "limitations": limitations,
        "subject": list(subject),
    }
    return Document("risk.model_card", tables=tuple(tables), values=values, options=options)


def sentence_spec(item: str | Sentence, name: str, values: dict[str, Any]) -> Any:
    """A sentence as JSON-ready options: its template, text slots, and number slots moved into
    *values* (under ``name.slot``) so the gate checks them; its fallback likewise."""
    if isinstance(item, str):
        return item
    slots: dict[str, Any] = {}
    for slot_name, slot in item.slots.items():
        if isinstance(slot, str):
            slots[slot_name] = {"text": slot}
        elif isinstance(slot, (Count, Cell, Value)):
            key = f"{name}.{slot_name}"
            values[key] = slot
            fmt = getattr(slot, "format", "") or (",.0f" if isinstance(slot, Count) else "")
            slots[slot_name] = {"value": key, "format": fmt}
        elif isinstance(slot, Items):
            raise TypeError(f"{name}: a list slot cannot go in the model card")
    fallback = item.fallback
    return {
        "template": item.template,
        "slots": slots,
        "fallback": None if fallback is None else sentence_spec(fallback, f"{name} (fallback)", values),
    }


def _formatted(value: Any, spec: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not spec:
        return f"{value:,}"
    from expedition.numbers import format_spec

    return format_spec(value, spec or ".3g")


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def say_spec(spec: Any, values: dict[str, Any], symbol: str = "[suppressed]") -> str:
    """Render a `sentence_spec` with the gated *values* (None where withheld)."""
    if spec is None:
        return ""
    if isinstance(spec, str):
        return spec
    rendered: dict[str, str] = {}
    withheld = False
    for slot_name, slot in spec["slots"].items():
        if "text" in slot:
            rendered[slot_name] = slot["text"]
            continue
        value = values.get(slot["value"])
        if value is None:
            withheld = True
            rendered[slot_name] = symbol
        else:
            rendered[slot_name] = _formatted(value, slot["format"])
    if withheld and spec.get("fallback") is not None:
        return say_spec(spec["fallback"], values, symbol)
    return spec["template"].format_map(rendered)


def _md_table(d: Drawing, table: str, columns: dict[str, str], formats: dict[str, str] | None = None,
              rows: list[int] | None = None) -> str:
    """A Markdown table of gated *table*: a suppressed value shows as the suppression symbol,
    a missing one as a dash."""
    formats = formats or {}
    frame = d.tables[table].frame
    hidden = {c: d.hidden(c, table) for c in columns}
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    lines = [head, rule]
    for i in rows if rows is not None else range(frame.height):
        row = frame.row(i, named=True)
        cells = []
        for key in columns:
            value = row.get(key)
            if value is None:
                cells.append(d.rules.symbol if hidden[key][i] else MISSING)
            elif isinstance(value, float):
                cells.append(_formatted(value, formats.get(key, ".2f")))
            elif isinstance(value, int):
                cells.append(f"{value:,}")
            else:
                cells.append(str(value).replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@document("risk.model_card")
def render_model_card(d: Drawing, values: dict[str, Any]) -> str:
    """The model card in Markdown, from the gated tables and values."""
    o = d.options
    outcome, primary, m = o["outcome"], o["primary"], o["min_count"]

    def count(name: str) -> str:
        v = values.get(name)
        return f"{v:,}" if v is not None else f"a number of records that cannot be published ({d.rules.symbol})"

    def rate(name: str) -> str:
        v = values.get(name)
        return _formatted(v, ".1%") if v is not None else "a share that cannot be published"

    period = ""
    if o.get("train_period"):
        period = (
            f" Training records span {o['train_period'][0]} to {o['train_period'][1]}; "
            f"test records {o['test_period'][0]} to {o['test_period'][1]}."
        )
    protected = o["protected"]
    one, many = o.get("subject") or ("record", "records")
    lines = [
        f"# Model card: predicting {outcome}",
        "",
        "## Model details",
        "",
        f"- **Model:** {primary} (scikit-learn pipeline), made by the expedition `risk` step"
        f" on dataset `{o['dataset']}`.",
        f"- **Predicts:** the probability that {_a(one)} has {outcome}.",
        "- **Inputs:** " + ("; ".join(o["inputs"]) if o["inputs"] else "none") + ".",
        "- **Protected characteristics** "
        + (
            ("(" + ", ".join(protected) + ") are "
             + ("used as inputs" if o["use_protected"] else "not inputs; they are used only to check fairness") + ".")
            if protected
            else "were not named, so fairness was not checked."
        ),
        f"- **Split:** {o['split']}.",
        "- **Saved with** its pipeline, parameters, the SHA-256 of its training records and the "
        "package versions; `expedition score` refuses to apply it under incompatible versions.",
        "",
        "## Intended use",
        "",
        f"- To help a team decide **which {many} to review first**, as one input to "
        "professional judgement, with capacity-based thresholds (see Metrics).",
        "- To understand, in aggregate, which recorded factors go with the outcome.",
        "",
        "## Out-of-scope uses",
        "",
        "- **Any automated decision about an individual person** — acting on, escalating or "
        f"closing {_a(one)}, or withholding a service — without a professional's review.",
        "- Use on a population, period or recording practice unlike the training data without "
        "re-validation.",
        "- Treating the score as a probability for an individual, or as a cause of the outcome.",
        "",
        "## Training and evaluation data",
        "",
        f"- Training: {count('train_records')} records, of which {rate('train_rate')} had {outcome}.",
        f"- Evaluation: {count('test_records')} held-out records, {rate('test_rate')} with {outcome}.{period}",
        "- Personal data in free text was redacted (UK postcodes, NHS and National Insurance "
        "numbers, phone numbers, e-mail addresses, dates of birth, names in context) before any "
        f"term was counted; terms in fewer than {m} documents were never inputs.",
        "",
        "## Metrics (held-out records)",
        "",
        _md_table(
            d, "performance",
            {"method": "method", "auc": "ROC AUC", "auc_low": "low", "auc_high": "high", "pr_auc": "PR AUC", "brier": "Brier"},
            {"auc": ".3f", "auc_low": ".3f", "auc_high": ".3f", "pr_auc": ".3f", "brier": ".4f"},
        ),
        "",
        f"Reviewing the highest-risk cases ({d.rules.symbol}: withheld, as a count it rests on is suppressed):",
        "",
    ]
    capacity = d.tables["capacity"].frame
    methods, labels = capacity["method"].to_list(), capacity["capacity"].to_list()
    # a capacity's figures sit on the last of the rows of its bands
    mine = [i for i, method in enumerate(methods) if method == primary
            and (i + 1 == len(methods) or (methods[i + 1], labels[i + 1]) != (method, labels[i]))]
    lines += [
        _md_table(
            d, "capacity",
            {"capacity": "reviewed", "recall": "recall", "recall_low": "low", "recall_high": "high",
             "precision": "precision"},
            {"recall": ".1%", "recall_low": ".1%", "recall_high": ".1%", "precision": ".1%"},
            rows=mine,
        ),
        "",
    ]
    cal = o.get("calibration") or {}
    if "calibration_slope" in cal:
        lines += [
            f"Calibration slope {cal['calibration_slope']:.2f} (95% CI {cal['calibration_slope_low']:.2f}–"
            f"{cal['calibration_slope_high']:.2f}; 1 is ideal), calibration-in-the-large "
            f"{cal['calibration_intercept']:+.2f} (0 is ideal).",
            "",
        ]
    lines += ["## Fairness results", ""]
    if "fairness" in d.tables:
        lines += [
            f"At a review share of {o['review_share']:.0%}. Groups with fewer than {m} records are too "
            f"small to judge; `{d.rules.symbol}` marks a suppressed number.",
            "",
            _md_table(
                d, "fairness",
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
            ),
            "",
        ]
    else:
        lines += ["Not checked: no protected characteristic was named.", ""]
    if "model_inputs" in d.tables:
        frame = d.tables["model_inputs"].frame
        lines += [
            "## What the model leans on",
            "",
            _md_table(d, "model_inputs", {"input": "input", "odds_ratio": "odds ratio"}, rows=list(range(min(10, frame.height)))),
            "",
        ]
    lines += [
        "## Limitations",
        "",
        *[f"- {say_spec(spec, values, d.rules.symbol)}" for spec in o["limitations"]],
        "",
        "## Ethical considerations",
        "",
        "- The outcome is what was recorded, shaped by past decisions about who was seen and how; "
        "groups that were over- or under-recorded in the past can be over- or under-scored now.",
        "- A score attached to a person can stigmatise; scores are personal data, stored in "
        "`data/processed/`, never published, and deleted with the project's data.",
        "- Published evaluations of such models in public services have found modest "
        f"precision: most flagged {many} will not have the outcome, and many that do will not be "
        "flagged.",
        "",
        "## Human oversight",
        "",
        f"- A qualified practitioner reviews every {one} before any action; the score only orders "
        "the queue and can be overridden without justification.",
        "- The team re-checks discrimination, calibration and fairness on each new delivery "
        "(`expedition run`) before scores are used, and stops using the model if they degrade.",
        "- People can ask how a decision about them was made; the transparency record names "
        "this model and its limits.",
        "",
    ]
    return "\n".join(lines)
