"""`expedition ethics`: the submission an ethics committee or a data protection officer asks for.

Purpose and public benefit, the data and its lawful basis, risks and mitigations, the fairness
plan, human oversight and retention — gathered from the same sources as the pack's transparency
record (`expedition.pack.transparency.build_record`: ``expedition.yaml`` and its agreements,
``ETHICS.md``, ``DATA_SHARING.md``, the model cards and sign-offs), plus the columns each data
contract flags as personal. A question with no source is listed under *Gaps* with where to
answer it; nothing is invented. Personal data in any answer is redacted, keeping the names the
project declares public.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from expedition.project import Project

#: the submission's sections, and the transparency-record fields each is made of
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Purpose and public benefit", ("Scope: the question", "Benefits: who benefits, and how",
                                    "Description: what was done and why", "Organisation", "Project lead",
                                    "Expedition dates")),
    ("Data and lawful basis", ("Datasets", "Data provider(s)", "Data-sharing agreement", "Lawful basis",
                               "Special category data", "Fields used and why (data minimisation)",
                               "Storage and access")),
    ("Risks and mitigations", ("What would go wrong if the analysis were wrong", "Risks", "Mitigations",
                               "Impact assessments (DPIA)", "Known data-quality problems")),
    ("Human oversight", ("The decision it informs, and who makes it", "Human oversight and review")),
    ("Retention", ("Retention and deletion",)),
)


@dataclass
class EthicsPacket:
    title: str
    sections: list[tuple[str, list[tuple[str, str, str]]]] = field(default_factory=list)  # (label, value, source)
    gaps: list[tuple[str, str]] = field(default_factory=list)  # (question, where to answer it)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title,
                "sections": [{"section": s, "answers": [{"question": q, "answer": v, "source": src}
                                                        for q, v, src in items]} for s, items in self.sections],
                "gaps": [{"question": q, "fix": f} for q, f in self.gaps]}

    def to_markdown(self) -> str:
        lines = [f"# Ethics and data-protection submission: {self.title}", "",
                 "Prepared by `expedition ethics` from the expedition's own records (expedition.yaml and "
                 "its data-sharing agreements, ETHICS.md, DATA_SHARING.md, the data contracts, the model "
                 "cards and the sign-offs). Nothing is invented: a question with no answer yet is listed "
                 "under Gaps.", ""]
        for n, (section, items) in enumerate(self.sections, start=1):
            lines += [f"## {n}. {section}", ""]
            for question, value, source in items:
                if not value.strip():
                    lines.append(f"- **{question}:** _not answered yet_")
                elif "\n" in value.strip() or value.lstrip().startswith("- "):
                    lines.append(f"- **{question}:** _(from {source})_")
                    lines += ["  " + v if v.strip() else "" for v in value.strip().splitlines()]
                else:
                    lines.append(f"- **{question}:** {value.strip()} _(from {source})_")
            lines.append("")
        lines += ["## Gaps", ""]
        if self.gaps:
            lines += [f"- **{q}** — {fix}" for q, fix in self.gaps]
        else:
            lines.append("None: every question has an answer from the expedition's records.")
        return "\n".join(lines) + "\n"


def ethics_packet(project: Project) -> EthicsPacket:
    """The submission, from the expedition's records as they are now."""
    from expedition.disclosure.text import redact
    from expedition.pack.build import MODEL_CARD, _read_optional
    from expedition.pack.transparency import _answer, build_record, parse_checklist
    from expedition.review import review_status
    from expedition.runner import public_names, stored_findings

    allow = public_names(project)
    ethics_raw = _read_optional(project.root / "ETHICS.md")
    sharing_raw = _read_optional(project.root / "DATA_SHARING.md")
    findings = stored_findings(project)
    cards = {f.id: f.documents[MODEL_CARD] for f in findings if MODEL_CARD in f.documents}
    review = review_status(project)
    record = build_record(project, findings=findings, ethics=ethics_raw, sharing=sharing_raw,
                          model_cards=cards, reviews=review.covering, quality=[])
    by_label = {f.label: f for f in record.fields}
    datasets = by_label.get("Datasets")
    if datasets is not None and not datasets.value.strip():
        datasets.value = "\n".join(
            f"- {name}: " + (", ".join(f"v{d.version} ({d.source}, {d.rows:,} rows, received "
                                       f"{d.added.date() if d.added else '?'}, SHA-256 {d.sha256[:12]}…)"
                                       for d in ds.deliveries) or "no delivery yet")
            for name, ds in project.config.datasets.items())
        datasets.source = "expedition.yaml"
    packet = EthicsPacket(record.title)
    for section, labels in SECTIONS:
        items = [(label, by_label[label].value, by_label[label].source) for label in labels if label in by_label]
        if section == "Data and lawful basis":
            items.append(("Personal data the contracts flag", _personal_columns(project), "the data contracts"))
        if section == "Risks and mitigations":
            items.append(("Fairness plan: protected characteristics and how results are checked across them",
                          _fairness(parse_checklist(ethics_raw or ""), cards, _answer), "ETHICS.md and the model cards"))
        if section == "Human oversight":
            signed = [f"- {r.aqua_role}: {r.by} ({r.role}), {r.date}" for r in [*review.roles, *review.covering]]
            items.append(("Sign-offs (Aqua Book roles)", "\n".join(signed), "`expedition review`"))
        packet.sections.append((section, [(q, redact(v, allow)[0], s) for q, v, s in items]))
    packet.gaps = [(f.label, f.fix) for f in record.gaps if f.missing]
    fairness = next(v for s, items in packet.sections for q, v, _ in items if q.startswith("Fairness plan"))
    if not fairness.strip():
        packet.gaps.append(("Fairness plan", "answer 'Protected characteristics in the data, and how results "
                            "will be checked across them' in ETHICS.md"))
    return packet


def _personal_columns(project: Project) -> str:
    from expedition.contract import contract_path, load_contract

    lines = []
    for name in project.config.datasets:
        path = contract_path(project, name)
        if not path.exists():
            lines.append(f"- {name}: no data contract yet (`expedition schema infer {name}`)")
            continue
        try:
            contract = load_contract(path)
        except Exception:  # noqa: BLE001 - a broken contract is reported by validate; here it is a gap
            lines.append(f"- {name}: the data contract could not be read (`expedition validate {name}` says why)")
            continue
        flagged = sorted(contract.personal)
        lines.append(f"- {name}: " + (", ".join(flagged) if flagged else "no column flagged personal"))
    return "\n".join(lines)


def _fairness(items: list[Any], cards: dict[str, str], answer: Any) -> str:
    from expedition.pack.transparency import _sections

    parts = [a for a in (answer(items, "protected characteristics"), answer(items, "represented")) if a]
    for finding_id, card in sorted(cards.items()):
        for heading, text in _sections(card).items():
            if ("fairness" in heading or "bias" in heading) and text.strip():
                parts.append(f"{finding_id} ({heading}): {text.strip()[:400]}")
    return "\n".join(f"- {p}" for p in parts)
