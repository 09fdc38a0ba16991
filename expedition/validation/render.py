"""Writing a validation for people: the HTML fragment for the findings pack, and the feedback
for the data owner. Values of personal-data, identifier and free-text columns never appear:
the report carries only row numbers for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expedition.validation import CheckOutcome, DatasetValidation


def example_text(check: CheckOutcome, *, markdown: bool = False) -> str:
    """``row 17: 12a; row 40: 7x`` — or only row numbers when the values are withheld."""
    def code(value: Any) -> str:
        text = "(empty)" if value is None else str(value)
        return f"`{text}`" if markdown else text

    parts = []
    for example in check.examples:
        if "value" in example:
            parts.append(f"row {example['row']}: {code(example['value'])}")
        elif "values" in example:
            inner = ", ".join(f"{k} {code(v)}" for k, v in example["values"].items())
            parts.append(f"row {example['row']}: {inner}")
        elif "fields" in example:  # a row short of fields: where it is and how short
            shape = "blank" if example.get("blank") else f"{example['fields']} fields"
            parts.append(f"row {example['row']} (line {example['line']}: {shape})")
        else:
            parts.append(f"row {example['row']}")
    more = check.failed - len(check.examples)
    text = "; ".join(parts)
    if more > 0 and parts:
        text += f"; {more:,} more"
    return text


def html_fragment(v: DatasetValidation) -> str:
    """The `validation.html` fragment (no <html> or <head>: the pack includes it in a page)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("expedition", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from expedition.numbers import short_hash

    env.filters["short_hash"] = short_hash
    report = v.report
    return env.get_template("validation.html.j2").render(
        v=v,
        r=report,
        failed=report.failed_checks,
        dataset_checks=report.dataset_checks,
        passed_count=sum(1 for c in report.checks if not c.failed),
        examples=example_text,
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def feedback_markdown(v: DatasetValidation) -> str:
    """A short data-quality summary a lead can send back to whoever supplied the delivery."""
    r = v.report
    d = v.delivery
    source = d.file.rsplit("/", 1)[-1]
    lines = [
        f"# Data quality feedback: {v.dataset}",
        "",
        f"Delivery v{d.version} of **{v.dataset}** (`{source}`, SHA-256 `{d.sha256[:16]}…`), "
        f"checked on {v.validated_at[:10]} against the agreed data contract `{v.contract_file}`.",
        "",
        f"**{r.rows_read:,} rows received: {r.rows_valid:,} passed every check"
        + (f"; {r.rows_quarantined:,} ({r.share_quarantined:.2%}) were set aside and are not used "
           "in the analysis.**" if r.rows_quarantined else ".**"),
        "",
    ]
    structural = []
    for column in r.missing_columns:
        structural.append(f"- The column `{column}` was missing. Please include it, with exactly "
                          "this header.")
    for old, new in r.renamed_columns.items():
        structural.append(f"- The header `{old}` was read as `{new}`. Please keep the agreed "
                          "headers so nothing is matched by guesswork.")
    if r.extra_columns:
        structural.append("- Columns we did not expect: "
                          + ", ".join(f"`{c}`" for c in r.extra_columns)
                          + ". Tell us what they hold, or leave them out.")
    for check in r.dataset_checks:
        if not check.passed and check.id != "columns":
            structural.append(f"- {check.description[0].upper()}{check.description[1:]} was "
                              f"expected; {check.detail}. Please {check.fix}.")
    if structural:
        lines += ["## The file as a whole", "", *structural, ""]
    failed = r.failed_checks
    if failed:
        lines += [
            "## What we found",
            "",
            "| rule | rows affected | share of rows | examples |",
            "| --- | ---: | ---: | --- |",
        ]
        for check in failed:
            lines.append(
                f"| {_md(check.description)} | {check.failed:,} | {check.share:.2%} | "
                f"{_md(example_text(check, markdown=True))} |"
            )
        lines += ["", "## What to fix at source", ""]
        for check in failed:
            rows = "row" if check.failed == 1 else "rows"
            lines.append(f"- **{_md(check.description)}** ({check.failed:,} {rows}): {check.fix}.")
        lines.append("")
    elif not structural:
        lines += ["Every row passed every check. Thank you.", ""]
    lines += [
        "Row numbers count data rows from 1 (the first row after the header), as in the file you "
        "sent. Values of personal-data, identifier and free-text columns are not shown.",
        "",
    ]
    return "\n".join(lines)
