"""The transparency record: tier 1 and tier 2 of the UK Algorithmic Transparency Recording
Standard (ATRS), filled from what the expedition already holds.

Sources, and nothing else: ``expedition.yaml`` (the expedition, its partners, datasets and
``transparency:`` facts), ``ETHICS.md`` (the checklist answers), ``DATA_SHARING.md`` (the
agreement, lawful basis, retention), the model cards that steps wrote, the findings themselves,
the disclosure rules and the recorded review sign-offs. A mandatory field with no source is
listed under *Gaps* with where to fill it in; nothing is invented. Every value is redacted
(`expedition.disclosure.text`) before it is recorded, keeping only the names the project
declares public (`expedition.review.public_names`): a fact in ``expedition.yaml`` is
published, so a phone number or a named child in it must not be.

ETHICS.md items are list entries with a box (``- [ ]`` / ``- [x]``). An item whose prompt ends
with a colon is answered by the text after it; other items are answered by ticking them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from expedition.disclosure.text import redact
from expedition.project import Project
from expedition.review import public_names

ATRS_NOTE = (
    "A record in the spirit of the UK Government's Algorithmic Transparency Recording Standard "
    "(ATRS): tier 1 is a plain-English summary for the public; tier 2 gives the detail. It is "
    "filled from expedition.yaml, ETHICS.md, DATA_SHARING.md, the model cards and the "
    "expedition's records. Nothing is invented: a mandatory field with no source is listed "
    "under Gaps."
)


# --------------------------------------------------------------------------- reading sources


@dataclass(frozen=True)
class ChecklistItem:
    section: str
    prompt: str
    answer: str
    ticked: bool
    expects_answer: bool

    @property
    def done(self) -> bool:
        return bool(self.answer) or (self.ticked and not self.expects_answer)


_ITEM = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s?(.*)$")


def parse_checklist(text: str) -> list[ChecklistItem]:
    """The ``- [ ]`` items of ETHICS.md, with their section, answer and tick."""
    items: list[ChecklistItem] = []
    section = ""
    current: list[Any] | None = None

    def close() -> None:
        if current is None:
            return
        tick, body = current
        body = " ".join(part.strip() for part in body if part.strip())
        prompt, colon, answer = body.partition(":")
        items.append(
            ChecklistItem(section, prompt.strip() if colon else body, answer.strip(), tick, bool(colon))
        )

    for line in text.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        item = _ITEM.match(line)
        if heading:
            close()
            current = None
            section = heading.group(1).strip()
        elif item:
            close()
            current = [item.group(1).lower() == "x", [item.group(2)]]
        elif current is not None and line.strip() and line[:1].isspace():
            current[1].append(line)
        else:
            close()
            current = None
    close()
    return items


def parse_record_tables(text: str) -> dict[str, str]:
    """``| item | detail |`` rows of DATA_SHARING.md as a mapping (empty details kept as '')."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.strip().startswith("|") else []
        if len(cells) < 2 or set(cells[0]) <= set("-: ") or cells[0].lower() in {"item", "dataset"}:
            continue
        out.setdefault(cells[0], cells[1])
    return out


def _sections(markdown: str) -> dict[str, str]:
    """A markdown document's ``##`` sections by lower-cased heading."""
    out: dict[str, str] = {}
    heading = None
    lines: list[str] = []
    for line in markdown.splitlines():
        match = re.match(r"^#{2,4}\s+(.*)$", line)
        if match:
            if heading is not None:
                out[heading] = "\n".join(lines).strip()
            heading, lines = match.group(1).strip().lower(), []
        elif heading is not None:
            lines.append(line)
    if heading is not None:
        out[heading] = "\n".join(lines).strip()
    return out


def _excerpt(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# --------------------------------------------------------------------------- the record


@dataclass
class RecordField:
    tier: int
    section: str
    label: str
    mandatory: bool
    value: str = ""
    source: str = ""
    fix: str = ""

    @property
    def missing(self) -> bool:
        return not self.value.strip()


@dataclass
class TransparencyRecord:
    title: str
    fields: list[RecordField] = field(default_factory=list)

    @property
    def gaps(self) -> list[RecordField]:
        return [f for f in self.fields if f.mandatory and f.missing]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [
                {"tier": f.tier, "section": f.section, "field": f.label, "mandatory": f.mandatory,
                 "value": f.value, "source": f.source}
                for f in self.fields
            ],
            "gaps": [{"field": f.label, "tier": f.tier, "fix": f.fix} for f in self.gaps],
        }

    def to_markdown(self, status: str) -> str:
        lines = [f"# Transparency record: {self.title}", "", f"**Status:** {status}", "", ATRS_NOTE, ""]
        current = None
        for f in self.fields:
            heading = "Tier 1: summary" if f.tier == 1 else f"Tier 2: {f.section}"
            if heading != current:
                lines += ["", f"## {heading}", ""]
                current = heading
            if f.missing:
                note = "**gap** (mandatory)" if f.mandatory else "not recorded"
                lines.append(f"- **{f.label}:** _{note}_")
            else:
                value = f.value.strip()
                source = f" _(from {f.source})_" if f.source else ""
                if "\n" in value or value.startswith("- "):
                    lines.append(f"- **{f.label}:**{source}")
                    lines += ["  " + v if v.strip() else "" for v in value.splitlines()]
                else:
                    lines.append(f"- **{f.label}:** {value}{source}")
        lines += ["", "## Gaps", ""]
        if self.gaps:
            lines.append("These mandatory fields have no source yet:")
            lines.append("")
            for f in self.gaps:
                lines.append(f"- **{f.label}** (tier {f.tier}) — {f.fix}")
        else:
            lines.append("None: every mandatory field has a source.")
        return "\n".join(lines) + "\n"


def _match(items: list[ChecklistItem], *words: str) -> ChecklistItem | None:
    for item in items:
        prompt = item.prompt.lower()
        if any(w in prompt for w in words):
            return item
    return None


def _answer(items: list[ChecklistItem], *words: str) -> str:
    item = _match(items, *words)
    if item is None:
        return ""
    if item.answer:
        return item.answer
    if item.ticked and not item.expects_answer:
        return f"Confirmed (ticked in ETHICS.md): {item.prompt}"
    return ""


def _table_value(table: dict[str, str], *words: str) -> str:
    for key, value in table.items():
        if any(w in key.lower() for w in words):
            return value
    return ""


def build_record(
    project: Project,
    *,
    findings: list[Any],
    ethics: str | None,
    sharing: str | None,
    model_cards: dict[str, str],
    reviews: list[Any],
    quality: list[Any],
    rules_text: str = "",
) -> TransparencyRecord:
    """Fill the record from the expedition's own sources (see the module docstring)."""
    config = project.config
    info = config.expedition
    facts = config.transparency
    items = parse_checklist(ethics or "")
    table = parse_record_tables(sharing or "")
    ethics_fix = "answer it in ETHICS.md" if ethics is not None else "restore ETHICS.md (from `expedition new`) and answer it"
    sharing_fix = (
        "fill it in DATA_SHARING.md" if sharing is not None else "restore DATA_SHARING.md (from `expedition new`) and fill it in"
    )
    record = TransparencyRecord(info.title)
    add = record.fields.append

    organisation = facts.organisation or ", ".join(info.partners)
    steps = sorted({f.step for f in findings})
    datasets = sorted(config.datasets)
    description = info.question or ""
    if findings:
        description += (
            ("\n\n" if description else "")
            + f"The team analysed {', '.join(datasets) or 'the data'} with {len(findings)} analysis "
            f"step(s) ({', '.join(steps)}), whose findings, methods and limitations are in this pack."
        )
    if model_cards:
        description += (
            f" {len(model_cards)} predictive model(s) were built; each has a model card "
            f"({', '.join(sorted(model_cards))})."
        )

    # tier 1 ---------------------------------------------------------------------------
    add(RecordField(1, "summary", "Name", True, info.title, "expedition.yaml"))
    add(RecordField(1, "summary", "Description: what was done and why", True, description,
                    "expedition.yaml and the findings",
                    "state the question in expedition.yaml (expedition.question)"))
    add(RecordField(1, "summary", "Organisation", True, organisation, "expedition.yaml",
                    "name the partners in expedition.yaml (expedition.partners) or set transparency.organisation"))
    add(RecordField(1, "summary", "Contact", True, facts.contact, "expedition.yaml",
                    "set transparency.contact (an e-mail address for questions) in expedition.yaml"))
    add(RecordField(1, "summary", "Phase", False, facts.phase, "expedition.yaml"))
    add(RecordField(1, "summary", "More information", False, facts.website, "expedition.yaml"))

    # tier 2: owner and responsibility ---------------------------------------------------
    section = "owner and responsibility"
    add(RecordField(2, section, "Organisation", True, organisation, "expedition.yaml",
                    "name the partners in expedition.yaml"))
    add(RecordField(2, section, "Team", True, facts.team, "expedition.yaml",
                    "set transparency.team in expedition.yaml"))
    add(RecordField(2, section, "Senior responsible owner (role)", True, facts.senior_responsible_owner,
                    "expedition.yaml", "set transparency.senior_responsible_owner in expedition.yaml"))
    add(RecordField(2, section, "Project lead", True, info.lead, "expedition.yaml",
                    "set expedition.lead in expedition.yaml"))
    dates = f"{info.start} to {info.end}" if info.start and info.end else ""
    add(RecordField(2, section, "Expedition dates", False, dates, "expedition.yaml"))

    # tier 2: description and rationale --------------------------------------------------
    section = "description and rationale"
    detail = "\n".join(
        f"- {f.title} ({f.step}): {_excerpt(f.method, 300) if f.method else 'no method recorded'}"
        for f in findings
    )
    add(RecordField(2, section, "How the analysis works", True, detail, "the findings",
                    "run the steps with `expedition run`"))
    add(RecordField(2, section, "Scope: the question", True, info.question, "expedition.yaml",
                    "state the question in expedition.yaml (expedition.question)"))
    add(RecordField(2, section, "Benefits: who benefits, and how", True,
                    _answer(items, "who benefits", "public benefit"), "ETHICS.md", ethics_fix))
    harm = _answer(items, "go wrong")
    add(RecordField(2, section, "What would go wrong if the analysis were wrong", False, harm, "ETHICS.md"))
    for finding_id, card in sorted(model_cards.items()):
        parts = _sections(card)
        use = next((v for k, v in parts.items() if "intended use" in k or "purpose" in k), "")
        summary = _excerpt(use or card, 500)
        add(RecordField(2, section, f"Model: {finding_id}", False, summary,
                        f"model card model-cards/{finding_id}.md"))

    # tier 2: decision-making process and human oversight ---------------------------------
    section = "decision-making process and human oversight"
    add(RecordField(2, section, "The decision it informs, and who makes it", True,
                    _answer(items, "what decision"), "ETHICS.md", ethics_fix))
    oversight = [
        f"Quality-assurance sign-off by {r.by} ({r.role}) on {r.date}" + (f": {r.note}" if r.note else "")
        for r in reviews
    ]
    for words in (("outside the team",), ("partner has reviewed",)):
        answer = _answer(items, *words)
        if answer:
            oversight.append(answer)
    add(RecordField(2, section, "Human oversight and review", True, "\n".join(f"- {o}" for o in oversight),
                    "review sign-offs and ETHICS.md",
                    "record a sign-off with `expedition review --by NAME`, and answer the review items in ETHICS.md"))
    for finding_id, card in sorted(model_cards.items()):
        parts = _sections(card)
        human = next((v for k, v in parts.items() if "oversight" in k or "human" in k or "how to use" in k), "")
        if human:
            add(RecordField(2, section, f"Use of model {finding_id}", False, _excerpt(human),
                            f"model card model-cards/{finding_id}.md"))

    # tier 2: data --------------------------------------------------------------------------
    section = "data"
    data_lines = []
    for q in quality:
        latest = q.deliveries[-1] if q.deliveries else None
        if latest is None:
            data_lines.append(f"- {q.name}: no delivery yet")
            continue
        line = (
            f"- {q.name}: delivery v{latest['version']} ({latest['source']}), {q.show(latest['rows'])} rows × "
            f"{latest['columns']} columns, received {latest['added']}, SHA-256 {latest['sha256']}"
        )
        if q.valid is not None or q.quarantined is not None or q.read is not None:
            line += (f"; validation: {q.show(q.read)} read = {q.show(q.valid)} valid + "
                     f"{q.show(q.quarantined)} quarantined")
        data_lines.append(line)
    add(RecordField(2, section, "Datasets", True, "\n".join(data_lines), "expedition.yaml",
                    "add the data with `expedition data add`"))
    # the agreements recorded per dataset in expedition.yaml come first (`expedition.governance`)
    agreements = {n: ds.agreement for n, ds in config.datasets.items() if ds.agreement is not None}
    per = (lambda f: "\n".join(f"- {n}: {f(a)}" for n, a in agreements.items())) if agreements else None
    provider = ", ".join(dict.fromkeys(a.provider for a in agreements.values())) or _table_value(table, "provider")
    add(RecordField(2, section, "Data provider(s)", True, provider or organisation,
                    "expedition.yaml (agreements)" if agreements else "DATA_SHARING.md" if provider else "expedition.yaml",
                    sharing_fix))
    add(RecordField(2, section, "Data-sharing agreement", True,
                    per(lambda a: a.reference) if per else _table_value(table, "agreement ("),
                    "expedition.yaml (agreements)" if per else "DATA_SHARING.md",
                    "record each dataset's agreement under it in expedition.yaml (agreement: reference, provider, "
                    "lawful_basis, retain_until)"))
    lawful = per(lambda a: a.lawful_basis) if per else _table_value(table, "lawful basis")
    add(RecordField(2, section, "Lawful basis", True, lawful or _answer(items, "lawful basis"),
                    "expedition.yaml (agreements)" if per else "DATA_SHARING.md" if lawful else "ETHICS.md",
                    f"{sharing_fix} (Lawful basis)"))
    add(RecordField(2, section, "Fields used and why (data minimisation)", False,
                    _answer(items, "only the fields"), "ETHICS.md"))
    add(RecordField(2, section, "Special category data", False, _answer(items, "special category"), "ETHICS.md"))
    add(RecordField(2, section, "Storage and access", False,
                    "; ".join(v for v in (_table_value(table, "stored"), _table_value(table, "who may access")) if v),
                    "DATA_SHARING.md"))
    retention = per(lambda a: f"kept until {a.retain_until}, then deleted (`expedition data purge`)") if per else ""
    retention = retention or "; ".join(
        v for v in (_table_value(table, "retention period"), _table_value(table, "deletion date")) if v
    )
    add(RecordField(2, section, "Retention and deletion", True, retention,
                    "expedition.yaml (agreements)" if per else "DATA_SHARING.md",
                    f"{sharing_fix} (Retention period, Deletion date)"))
    add(RecordField(2, section, "Known data-quality problems", False, _answer(items, "quality problems"), "ETHICS.md"))

    # tier 2: risks, mitigations and impact assessments -----------------------------------
    section = "risks, mitigations and impact assessments"
    dpias = "\n".join(f"- {n}: {a.dpia}" for n, a in agreements.items() if a.dpia)
    add(RecordField(2, section, "Impact assessments (DPIA)", True,
                    dpias or _answer(items, "impact assessment", "dpia"),
                    "expedition.yaml (agreements)" if dpias else "ETHICS.md", ethics_fix))
    risks = [r for r in (harm, _answer(items, "represented"), _answer(items, "quality problems")) if r]
    for finding_id, card in sorted(model_cards.items()):
        for heading, text in _sections(card).items():
            if any(w in heading for w in ("limitation", "risk", "ethical", "caveat")) and text:
                risks.append(f"{finding_id} ({heading}): {_excerpt(text, 400)}")
    add(RecordField(2, section, "Risks", True, "\n".join(f"- {r}" for r in risks),
                    "ETHICS.md and the model cards", ethics_fix + " (what could go wrong; groups under- or over-represented)"))
    mitigations = [rules_text or config.disclosure.describe(), "Identifier columns are never published; text is scanned and personal data redacted."]
    fairness = _answer(items, "protected characteristics")
    if fairness:
        mitigations.append(fairness)
    for finding_id, card in sorted(model_cards.items()):
        for heading, text in _sections(card).items():
            if ("fairness" in heading or "bias" in heading) and text:
                mitigations.append(f"{finding_id} ({heading}): {_excerpt(text, 400)}")
    add(RecordField(2, section, "Mitigations", True, "\n".join(f"- {m}" for m in mitigations),
                    "disclosure rules, ETHICS.md and the model cards"))
    allow = public_names(project, [r.by for r in reviews])
    record.title = redact(record.title, allow)[0]
    for f in record.fields:
        f.value = redact(f.value, allow)[0]
    return record
