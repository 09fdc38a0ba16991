"""A datasheet per dataset in the pack, after "Datasheets for Datasets" (Gebru et al., 2021).

Each of the paper's sections — motivation, composition, collection, preprocessing, uses,
distribution, maintenance — is answered from what the expedition holds: the dataset's
description and agreement in ``expedition.yaml``, its data contract (columns, types, roles,
personal flags, checks), its deliveries, its validation as the pack shows it (counts after the
disclosure gate), ``ETHICS.md``, the derived datasets and steps that read it. A question with no
source is listed under *Gaps* with where to answer it: nothing is invented. No value of the data
is written, only column names, types and gated counts; the text is redacted like every page.
"""

from __future__ import annotations

from typing import Any

from expedition.project import Project

Answer = tuple[str, str, str]  # (question, answer, where to answer it when empty)


def datasheet(project: Project, name: str, quality: Any | None, ethics: str | None) -> tuple[str, list[str]]:
    """The datasheet of *name* as Markdown, and the questions it leaves unanswered."""
    from expedition.pack.transparency import _answer, parse_checklist

    ds = project.config.datasets[name]
    a = ds.agreement
    items = parse_checklist(ethics or "")
    contract = _contract(project, name)
    show = quality.show if quality is not None else (lambda v: "—" if v is None else f"{v:,}")
    yaml_fix = f"describe it in expedition.yaml (datasets: {name}: description:)"
    agreement_fix = f"record its agreement in expedition.yaml (datasets: {name}: agreement:)"

    columns = ""
    if contract is not None:
        columns = "\n".join(
            f"- `{c.name}` ({c.dtype}{', ' + c.role if c.role else ''}{', personal' if c.personal else ''})"
            + (f": {c.description}" if c.description else "") for c in contract.columns.values())
    personal = sorted(contract.masked()) if contract is not None else []
    protected = contract.columns_with_role("protected") if contract is not None else []
    deliveries = "\n".join(f"- v{d.version}: {d.source}, received {d.added.date() if d.added else '?'}, "
                           f"{d.rows:,} rows, SHA-256 {d.sha256}" for d in ds.deliveries)
    validation = ""
    if quality is not None and quality.read is not None:
        validation = (f"Checked against its data contract: {show(quality.read)} rows read = "
                      f"{show(quality.valid)} valid + {show(quality.quarantined)} set aside (quarantined) "
                      "with their reasons; only the valid rows were analysed.")
        if quality.failed_checks:
            validation += " Checks that failed: " + "; ".join(
                str(c.get("description") or c.get("id")) for c in quality.failed_checks[:12]) + "."
    derived = [n for n, d in project.config.derived.items() if _reads(project, n, name)]
    steps = [f"{s.id} ({s.step})" for s in project.config.steps if s.dataset in {name, *derived}]

    sections: list[tuple[str, list[Answer]]] = [
        ("Motivation", [
            ("For what purpose was the dataset created, and what question is it used for here?",
             "\n".join(v for v in (ds.description, f"Used here to answer: {project.config.expedition.question}"
                                   if project.config.expedition.question else "") if v), yaml_fix),
            ("Who created the dataset, and on behalf of which organisation?", a.provider if a else "", agreement_fix),
        ]),
        ("Composition", [
            ("What do the instances (rows) represent?", ds.description, yaml_fix),
            ("How many instances are there?",
             f"{show(quality.rows)} rows in the latest profile" if quality is not None and quality.rows is not None
             else "; ".join(f"v{d.version}: {d.rows:,} rows" for d in ds.deliveries), "add a delivery"),
            ("What data does each instance consist of?", columns,
             f"draft its data contract with `expedition schema infer {name}`"),
            ("Is any information missing, and are there errors or noise?",
             "\n".join(f"- {x}" for x in (quality.alerts if quality is not None else [])[:12]) or validation,
             f"profile and validate it (`expedition profile {name}`, `expedition validate {name}`)"),
            ("Does the dataset contain data that might be considered confidential or personal?",
             (f"Yes: {', '.join(personal)} identify people or hold free text; their values are never published"
              if personal else "No column is flagged personal, an identifier or free text in the data contract")
             if contract is not None else "", f"flag personal columns in schemas/{name}.yaml"),
            ("Does it identify sub-populations (protected characteristics)?",
             (", ".join(protected) + " (role: protected)") if protected else _answer(items, "protected characteristics"),
             "give those columns role: protected in the contract, or answer it in ETHICS.md"),
        ]),
        ("Collection process", [
            ("How was the data acquired, and when was it received?", deliveries, "add it with `expedition data add`"),
            ("Was an ethical review or impact assessment done?",
             f"DPIA {a.dpia}" if a and a.dpia else _answer(items, "impact assessment", "dpia"),
             "record the DPIA in the agreement (dpia:) or answer it in ETHICS.md"),
            ("Under what lawful basis is it processed?", a.lawful_basis if a else _answer(items, "lawful basis"),
             agreement_fix),
        ]),
        ("Preprocessing and cleaning", [
            ("Was any preprocessing or cleaning done?", "\n".join(v for v in (validation, (
                "Derived from it with SQL (each query is in the reproducibility appendix): " + ", ".join(derived))
                if derived else "") if v), f"validate it with `expedition validate {name}`"),
        ]),
        ("Uses", [
            ("What has the dataset been used for in this expedition?", ", ".join(steps), "run steps on it"),
            ("Is there anything about its collection or cleaning that might affect future uses?",
             _answer(items, "quality problems", "represented"),
             "answer 'Known quality problems' and 'Groups that may be under- or over-represented' in ETHICS.md"),
        ]),
        ("Distribution", [
            ("Will the dataset be shared beyond the team?",
             "No. The data stay on the machines the agreement allows; only disclosure-controlled findings are "
             "published, in this pack.", ""),
        ]),
        ("Maintenance", [
            ("How long is it kept, and who holds it?",
             f"Until {a.retain_until} under agreement {a.reference} with {a.provider}; then deleted "
             "(`expedition data purge`)" if a else "", agreement_fix),
        ]),
    ]
    lines = [f"# Datasheet: {name}", "",
             'After "Datasheets for Datasets" (Gebru et al., 2021), answered from the expedition\'s records '
             "(expedition.yaml, the data contract, the deliveries, validation, ETHICS.md). No value of the "
             "data is shown; counts are as published after disclosure control.", ""]
    gaps: list[str] = []
    for section, answers in sections:
        lines += [f"## {section}", ""]
        for question, answer, fix in answers:
            answer = answer.strip()
            if answer:
                lines.append(f"**{question}**" + ("\n\n" if "\n" in answer or answer.startswith("- ") else " ")
                             + answer)
            else:
                lines.append(f"**{question}** _Not answered: {fix}._")
                gaps.append(f"{question} ({fix})")
            lines.append("")
    lines += ["## Gaps", ""]
    lines += [f"- {g}" for g in gaps] if gaps else ["None: every question has an answer from the records."]
    return "\n".join(lines) + "\n", gaps


def _contract(project: Project, name: str) -> Any | None:
    from expedition.contract import contract_path, load_contract

    path = contract_path(project, name)
    if not path.exists():
        return None
    try:
        return load_contract(path)
    except Exception:  # noqa: BLE001 - a broken contract is validate's to report; here it is a gap
        return None


def _reads(project: Project, derived: str, dataset: str) -> bool:
    from expedition.errors import ConfigError
    from expedition.prepare import base_datasets

    try:
        return dataset in base_datasets(project, [derived])
    except ConfigError:
        return False
