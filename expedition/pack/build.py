"""Building the findings pack: everything through the disclosure gate, written atomically,
checked by `verify_pack` before it is renamed into place, and zipped reproducibly."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from expedition import disclosure
from expedition._io import sha256_bytes, sha256_file
from expedition._lock import locked
from expedition._store import Unit
from expedition.disclosure.text import redact
from expedition.errors import PackError
from expedition.finding import Finding
from expedition.manifest import (
    SIGNATURE_FILE,
    command_line,
    file_hashes,
    missing_provenance,
    package_versions,
    sign_manifest,
)
from expedition.pack.archive import write_zip
from expedition.pack.markup import data_uri, embed_all, is_png, is_svg, render_markdown
from expedition.pack.quality import quality_findings, read_quality
from expedition.pack.render import figure_alt, render_index, summary_md, table_csv, table_view
from expedition.pack.transparency import build_record, parse_checklist
from expedition.pack.words import dataset_words
from expedition.prepare import lineage
from expedition.project import Project
from expedition.review import ReviewStatus, review_status
from expedition.runner import public_names, stored_findings

PACK_FORMAT = 3
MODEL_CARD = "model_card"


@dataclass(frozen=True)
class PackResult:
    path: Path
    findings: list[str]
    files: int
    suppressions: int
    warnings: list[str] = field(default_factory=list)
    zip: Path | None = None
    status: str = "draft"
    manifest_sha256: str = ""
    zip_sha256: str = ""
    index_bytes: int = 0
    gaps: int = 0
    signer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "zip": str(self.zip) if self.zip else None,
            "status": self.status,
            "findings": self.findings,
            "files": self.files,
            "suppressions": self.suppressions,
            "transparency_gaps": self.gaps,
            "index_bytes": self.index_bytes,
            "manifest_sha256": self.manifest_sha256,
            "zip_sha256": self.zip_sha256,
            "signer": self.signer,
            "warnings": self.warnings,
        }


def pack_name(project: Project, when: date | None = None) -> str:
    when = when or date.today()
    return f"{project.config.expedition.slug}-{when.isoformat()}"


def _status(final: bool, review: ReviewStatus) -> dict[str, Any]:
    if final:
        return {"kind": "final", "label": f"FINAL — {review.describe()}"}
    if review.signed:
        return {"kind": "draft", "label": f"DRAFT — {review.describe()}; not yet built as final"}
    return {"kind": "draft", "label": f"DRAFT — {review.describe()}"}


def _read_optional(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"{path.name} cannot be read ({exc})", "save it as UTF-8 text", path=path) from None


@locked("pack")
def build_pack(
    project: Project,
    findings: list[Finding] | None = None,
    *,
    when: date | None = None,
    replace: bool = False,
    final: bool = False,
) -> PackResult:
    """Write ``findings/<slug>-<date>/`` and ``findings/<slug>-<date>.zip`` for *project*.

    *findings* default to the stored ones. With ``final=True`` the pack is refused unless a
    review sign-off covers every finding (see `expedition.review`). *replace* rebuilds a pack
    that exists. Nothing is written unless the whole pack passes `verify_pack`.
    """
    findings = stored_findings(project) if findings is None else list(findings)
    if not findings:
        raise PackError("there are no findings to pack", "run the steps first with `expedition run`")
    when = when or date.today()
    name = pack_name(project, when)
    dest = project.findings_dir / name
    zip_path = project.findings_dir / f"{name}.zip"
    if (dest.exists() or zip_path.exists()) and not replace:
        raise PackError(
            f"the pack {project.relative(dest)} already exists",
            "use `expedition pack --force` to rebuild it, or move the old one away",
            path=dest,
        )
    review = review_status(project, [f.id for f in findings])
    if final and not review.signed:
        raise PackError(
            f"a final pack needs a review sign-off covering every finding; these are {review.describe()}",
            "have a reviewer check the findings and sign off with `expedition review --by NAME`, "
            "then run `expedition pack --final` (or build a draft with `expedition pack`)",
        )
    if final:
        from expedition.governance import require_agreements

        require_agreements(project, when)
    from expedition.governance import data_sharing_text

    sharing_now = data_sharing_text(project)  # written with the pack, in the same unit
    status = _status(final, review)
    from expedition.signing import signing_key

    key = signing_key(project=project.root)
    allow = public_names(project)
    rules = project.config.disclosure
    info = project.config.expedition
    info = info.model_copy(
        update={"title": redact(info.title, allow)[0], "question": redact(info.question, allow)[0]}
    )
    rules_text = rules.describe(magnitude=any(t.contributors for f in findings for t in f.tables.values()))
    warnings: list[str] = []
    if key.created:
        warnings.append(f"a new signing key was made in {key.source}; publish its fingerprint "
                        f"{key.public.fingerprint} (`expedition pack key`) so readers can check your packs")

    from expedition.steps._plot import draw_finding

    # one plan for every count in the pack: the findings and the data-quality evidence together
    quality_raw, quality_warnings = quality_findings(project, rules.min_count)
    gated_all = disclosure.gate_findings([*findings, *quality_raw], rules, allow=allow)
    gated, gated_quality = gated_all[: len(findings)], gated_all[len(findings):]
    drawn = [draw_finding(g, rules, cache=project.state_dir / "cache" / "drawn", allow=allow) for g in gated]
    log = [entry for g in gated_all for entry in g.log]
    sections = []
    model_cards: dict[str, str] = {}
    for original, g, finding in zip(findings, gated, drawn):
        if not original.tables:
            warnings.append(f"finding {finding.id} has no tables: its numbers cannot be checked in the pack")
        figures, broken = [], []
        for fig_name, figure in finding.figures.items():
            if not is_png(figure.png):
                broken.append(fig_name)
                warnings.append(
                    f"finding {finding.id}: figure {fig_name!r} failed to render (no valid PNG) and is left out"
                )
                continue
            svg = figure.svg if is_svg(figure.svg) else None
            if figure.svg is not None and svg is None:
                warnings.append(f"finding {finding.id}: figure {fig_name!r} has a broken SVG; only its PNG is kept")
            figures.append((fig_name, figure, svg))
        withheld = [e.where.removeprefix("figure ") for e in g.log if e.rule == "withheld" and e.finding == finding.id]
        if MODEL_CARD in finding.documents:
            model_cards[finding.id] = finding.documents[MODEL_CARD]
        finding = finding.with_(provenance=_public_provenance(finding.provenance, allow))
        words = dataset_words(project, finding.provenance.get("dataset"), allow)
        sections.append(
            {"finding": finding, "gated": g, "figures": figures, "broken": broken, "withheld": withheld,
             "lineage": lineage(finding.provenance), "words": words,
             # what the page says: the partner's names for columns and values (findings.json
             # keeps the steps' own words)
             "headlines": [words.text(h) for h in finding.headlines],
             "caveats": [words.text(c) for c in finding.caveats]}
        )

    pngs = [figure.png for s in sections for _, figure, _ in s["figures"]]
    embedded = iter(embed_all(pngs, cache=project.state_dir / "cache" / "figures"))
    for section in sections:
        section["embedded"] = [next(embedded) for _ in section["figures"]]

    quality = read_quality(
        project, {f.params["dataset"]: g.finding for f, g in zip(quality_raw, gated_quality)},
        rules.symbol, quality_warnings,
    )
    quality_sections = {f.params["dataset"]: g for f, g in zip(quality_raw, gated_quality)}
    for q in quality:
        warnings += q.warnings
    ethics_raw = _read_optional(project.root / "ETHICS.md")
    sharing_raw = sharing_now if sharing_now is not None else _read_optional(project.root / "DATA_SHARING.md")
    if ethics_raw is None:
        warnings.append("ETHICS.md is missing: the pack records that the ethics checklist was not completed")
    if sharing_raw is None:
        warnings.append("DATA_SHARING.md is missing: the transparency record lists its fields as gaps")
    ethics = redact(ethics_raw, allow)[0] if ethics_raw is not None else None
    sharing = redact(sharing_raw, allow)[0] if sharing_raw is not None else None
    record = build_record(
        project,
        findings=[s["finding"] for s in sections],
        ethics=ethics,
        sharing=sharing,
        model_cards=model_cards,
        reviews=review.covering,
        quality=quality,
        rules_text=rules_text,
    )
    transparency_md = redact(record.to_markdown(status["label"]), allow)[0]
    if record.gaps:
        warnings.append(
            f"the transparency record has {len(record.gaps)} gap(s): "
            + ", ".join(f.label for f in record.gaps)
        )

    with Unit(project.root, "pack") as unit:  # the folder and the zip: both new, or both old
        tmp = unit.folder(dest)
        if sharing_now is not None:
            unit.write_text(project.root / "DATA_SHARING.md", sharing_now)
        records = _write_findings(tmp, sections, rules.symbol)
        quality_records = _write_quality(tmp, quality, quality_sections, rules.symbol)
        (tmp / "transparency.md").write_text(transparency_md, encoding="utf-8")
        datasheets = _write_datasheets(tmp, project, quality, ethics_raw, allow)
        from expedition.pack.public import public_summary

        public_md = redact(public_summary(project, [s["headlines"] for s in sections], quality, rules.min_count,
                                          len(model_cards)), allow)[0]
        (tmp / "public-summary.md").write_text(public_md, encoding="utf-8")
        from expedition.pack.public import PLAIN_ENGLISH, reading_ease

        ease = reading_ease(public_md)
        if ease < PLAIN_ENGLISH:
            warnings.append(f"the public summary reads at Flesch reading ease {ease:.0f}, below plain English "
                            f"({PLAIN_ENGLISH:.0f}): shorten the question in expedition.yaml, and the "
                            "descriptions of the datasets, into short sentences and everyday words")
        if ethics is not None:
            (tmp / "ETHICS.md").write_text(ethics, encoding="utf-8")
        pack_info = {"name": name, "date": when.isoformat(), "status": status["kind"], "label": status["label"]}
        (tmp / "findings.json").write_text(
            json.dumps(
                {
                    "format": PACK_FORMAT,
                    "pack": pack_info,
                    "disclosure": _rules_dict(rules),
                    "public_names": allow,
                    "findings": records,
                    "data_quality": quality_records,
                },
                indent=2,
                ensure_ascii=False,
                default=str,
            )
            + "\n",
            encoding="utf-8",
        )
        context = _context(project, sections, records, log, quality, ethics, transparency_md, review,
                           status, when, name, record)
        context["info"] = info
        context["rules_text"] = rules_text
        context["datasheets"] = datasheets
        context["public_summary"] = render_markdown(public_md.split("\n", 1)[1].replace("\n## ", "\n### "))
        (tmp / "summary.md").write_text(redact(summary_md(context), allow)[0], encoding="utf-8")
        html = render_index(context)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        manifest = (
            {
                "format": PACK_FORMAT,
                "pack": pack_info,
                "expedition": info.model_dump(mode="json"),
                "command": command_line(project.root),
                "packages": package_versions(),
                "review": [r.to_dict() for r in review.covering] if review.covering else None,
                "disclosure": {
                    "rules": _rules_dict(rules),
                    "description": rules_text,
                    "log": [entry.to_dict() for entry in log],
                },
                "data": {
                    q.name: {"deliveries": q.deliveries, "quality": q.to_dict()} for q in quality
                },
                "findings": [
                    {
                        "id": s["finding"].id,
                        "step": s["finding"].step,
                        "title": s["finding"].title,
                        "params": s["finding"].params,
                        "provenance": s["finding"].provenance,
                        "provenance_missing": missing_provenance(s["finding"].provenance),
                    }
                    for s in sections
                ],
                "transparency_gaps": [f.label for f in record.gaps],
                "files": file_hashes(tmp),
            }
        )
        manifest_bytes, signature = sign_manifest(manifest, key)
        (tmp / "manifest.json").write_bytes(manifest_bytes)
        (tmp / SIGNATURE_FILE).write_bytes(signature)
        from expedition.pack.verify import verify_pack

        check = verify_pack(tmp, key=key.public.fingerprint)
        if not check.ok:
            raise PackError(
                "the pack failed its own checks, so nothing was written:\n"
                + "\n".join(f"  - {p}" for p in check.problems),
                "fix the findings (or the files named) and pack again; `expedition --debug pack` "
                "shows more",
            )
        index_bytes = (tmp / "index.html").stat().st_size
        write_zip(tmp, unit.file(zip_path), name, when)
        files = len(manifest["files"]) + 2
    manifest_sha = sha256_bytes(manifest_bytes)
    zip_sha = sha256_file(zip_path)
    project.record(
        "pack",
        path=project.relative(dest),
        zip=project.relative(zip_path),
        status=status["kind"],
        findings=[s["finding"].id for s in sections],
        manifest_sha256=manifest_sha,
        zip_sha256=zip_sha,
    )
    return PackResult(
        path=dest,
        findings=[s["finding"].id for s in sections],
        files=files,
        suppressions=len(log),
        warnings=warnings,
        zip=zip_path,
        status=status["kind"],
        manifest_sha256=manifest_sha,
        zip_sha256=zip_sha,
        index_bytes=index_bytes,
        gaps=len(record.gaps),
        signer=key.public.fingerprint,
    )


def _rules_dict(rules: Any) -> dict[str, Any]:
    data = rules.model_dump(mode="json")
    data.pop("public_names", None)
    return data


def _file_name(name: str) -> str:
    """A table, figure or document name made safe as part of a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "unnamed"


def _public_provenance(provenance: dict[str, Any], allow: list[str]) -> dict[str, Any]:
    """Provenance as the pack publishes it: the text a team wrote into expedition.yaml (a step's
    ``where:``, a derived dataset's SQL) redacted like any other text, since a condition can
    name a person (``WHERE name = '...'``)."""
    from expedition.disclosure.text import redact

    def clean(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: (redact(v, allow)[0] if k in {"where", "sql"} and isinstance(v, str) else clean(v))
                    for k, v in item.items()}
        if isinstance(item, list):
            return [clean(v) for v in item]
        return item

    return clean(provenance)


def _write_findings(root: Path, sections: list[dict[str, Any]], symbol: str) -> list[dict[str, Any]]:
    for folder in ("tables", "figures", "documents", "model-cards"):
        (root / folder).mkdir()
    records = []
    for section in sections:
        finding, gated = section["finding"], section["gated"]
        record = finding.to_dict()
        record["population"] = finding.population
        record["metric_kinds"] = dict(finding.metric_kinds)
        record["published_counts"] = list(gated.published_counts)
        for name, table in finding.tables.items():
            rel = f"tables/{finding.id}__{_file_name(name)}.csv"
            suppressed = gated.suppressed.get(name, {})
            (root / rel).write_bytes(table_csv(table, suppressed, symbol))
            record["tables"][name]["file"] = rel
            record["tables"][name]["suppressed_cells"] = sum(sum(m) for m in suppressed.values())
            section.setdefault("tables", []).append(
                (name, table_view(table, suppressed, symbol, section.get("words")), rel))
        record["figures"] = {}
        section["figure_views"] = []
        for (name, figure, svg), small in zip(section["figures"], section["embedded"]):
            files = [f"figures/{finding.id}__{_file_name(name)}.png"]
            (root / files[0]).write_bytes(figure.png)
            if svg is not None:
                files.append(f"figures/{finding.id}__{_file_name(name)}.svg")
                (root / files[1]).write_bytes(svg)
            record["figures"][name] = {**figure.meta(), "files": files}
            section["figure_views"].append(
                {"title": figure.title, "files": files,
                 "alt": figure_alt(figure.title, figure.alt, finding.tables.get(figure.data or ""),
                                   gated.suppressed.get(figure.data or "", {})),
                 "uri": data_uri(small)}
            )
        record["figures_withheld"] = section["withheld"]
        record["figures_failed"] = section["broken"]
        document_files = {}
        section["documents"] = []
        for name, text in sorted(finding.documents.items()):
            rel = (
                f"model-cards/{finding.id}.md"
                if name == MODEL_CARD
                else f"documents/{finding.id}__{_file_name(name)}.md"
            )
            (root / rel).write_text(text, encoding="utf-8")
            document_files[name] = rel
            section["documents"].append({"name": name, "file": rel, "html": render_markdown(text, shift=3)})
        record["document_files"] = document_files
        section.setdefault("tables", [])
        records.append(record)
    for folder in ("documents", "model-cards"):
        if not any((root / folder).iterdir()):
            (root / folder).rmdir()
    return records


def _write_datasheets(root: Path, project: Project, quality: list[Any], ethics: str | None,
                      allow: list[str]) -> dict[str, int]:
    """``datasheets/<dataset>.md`` for each dataset with a delivery; dataset -> unanswered questions."""
    from expedition.pack.datasheet import datasheet

    by_name = {q.name: q for q in quality}
    written: dict[str, int] = {}
    for name, ds in project.config.datasets.items():
        if not ds.deliveries:
            continue
        text, gaps = datasheet(project, name, by_name.get(name), ethics)
        folder = root / "datasheets"
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.md").write_text(redact(text, allow)[0], encoding="utf-8")
        written[name] = len(gaps)
    return written


def _write_quality(root: Path, quality: list[Any], gated: dict[str, Any], symbol: str) -> list[dict[str, Any]]:
    """Each dataset's gated data-quality tables as CSV in ``data-quality/<dataset>/``, and their
    records for findings.json (so `pack verify` checks them like any finding's tables)."""
    records = []
    for q in quality:
        g = gated.get(q.name)
        if g is None:
            continue
        folder = root / "data-quality" / q.name
        if g.finding.tables:
            folder.mkdir(parents=True)
        record = g.finding.to_dict()
        record["population"] = g.finding.population
        record["metric_kinds"] = dict(g.finding.metric_kinds)
        record["published_counts"] = list(g.published_counts)
        for name, table in g.finding.tables.items():
            rel = f"data-quality/{q.name}/{_file_name(name)}.csv"
            suppressed = g.suppressed.get(name, {})
            content = table_csv(table, suppressed, symbol)
            (root / rel).write_bytes(content)
            q.files[f"{_file_name(name)}.csv"] = content
            record["tables"][name]["file"] = rel
            record["tables"][name]["suppressed_cells"] = sum(sum(m) for m in suppressed.values())
            q.tables = [*getattr(q, "tables", []), (name, table_view(table, suppressed, symbol), rel)]
        records.append(record)
    return records


def _context(
    project: Project,
    sections: list[dict[str, Any]],
    records: list[dict[str, Any]],
    log: list[Any],
    quality: list[Any],
    ethics: str | None,
    transparency_md: str,
    review: ReviewStatus,
    status: dict[str, Any],
    when: date,
    name: str,
    record: Any,
) -> dict[str, Any]:
    config = project.config
    rules = config.disclosure
    from expedition.disclosure.gate import RULE_WORDS, describe_tally, tally

    counted = tally(log)
    by_rule = {f"{RULE_WORDS.get(rule, rule)} ({rule})": n for rule, n in counted.items()}
    items = parse_checklist(ethics or "")
    commands = sorted({str(s["finding"].provenance.get("command", "")) for s in sections} - {""})
    # the deliveries as the data-quality section publishes them: names redacted, sizes gated
    datasets = [{"name": q.name, "combine": project.config.datasets[q.name].combine, **d}
                for q in quality for d in q.deliveries]
    transparency_body = transparency_md.split("\n", 1)[1] if "\n" in transparency_md else transparency_md
    finished = sorted(str(s["finding"].provenance.get("finished", "")) for s in sections)
    return {
        "info": config.expedition,
        "rules": rules,
        "seed": config.seed,
        "sections": sections,
        "records": records,
        "status": status,
        "date": when.isoformat(),
        "pack_name": name,
        "findings_finished": finished[-1] if finished and finished[-1] else "",
        "quality": quality,
        "quality_reports": any(q.has_reports for q in quality),
        "by_rule": list(by_rule.items()),
        "disclosure_summary": describe_tally(counted),
        "suppressions": len(log),
        "ethics_html": render_markdown(ethics, shift=2) if ethics is not None else None,
        "ethics_done": sum(1 for i in items if i.done),
        "ethics_total": len(items),
        "transparency_html": render_markdown(transparency_body, shift=2),
        "gaps": record.gaps,
        "review": review,
        "reviews": review.covering,
        "commands": commands,
        "datasets": datasets,
        "derived": list(project.config.derived),
        "packages": package_versions(),
        "caveats": [(s["finding"], c) for s in sections for c in s["caveats"]],
    }
