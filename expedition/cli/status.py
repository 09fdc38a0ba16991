"""`expedition status`: the expedition at a glance."""

from __future__ import annotations

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt


def status(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """Show the expedition, its datasets, steps, last run and last pack."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from expedition.governance import retention
    from expedition.project import open_project
    from expedition.review import review_status

    proj = open_project(project)
    review = review_status(proj)
    config = proj.config
    info = config.expedition
    last_run = proj.last("run")
    last_pack = proj.last("pack")
    stored = {
        step.id: (proj.results_dir / step.id / "finding.json").exists() for step in config.steps
    }
    kept = {r.dataset: r for r in retention(proj)}
    made = _made(proj)
    if json_:
        _render.print_json(
            {
                "project": str(proj.root),
                "expedition": info.model_dump(mode="json"),
                "disclosure": config.disclosure.model_dump(),
                "datasets": {
                    name: {"deliveries": len(ds.deliveries), "latest": ds.latest.file if ds.latest else None,
                           "retention": kept[name].to_dict()}
                    for name, ds in config.datasets.items()
                },
                "made": made,
                "steps": [{"id": s.id, "step": s.step, "has_finding": stored[s.id]} for s in config.steps],
                "last_run": last_run,
                "last_pack": last_pack,
                "review": review.to_dict(),
            }
        )
        return

    head = Text()
    head.append(f"{info.title}\n", style="bold")
    if info.question:
        head.append(f"{info.question}\n", style="italic")
    details = []
    if info.partners:
        details.append(", ".join(info.partners))
    if info.lead:
        details.append(f"lead {info.lead}")
    if info.start or info.end:
        details.append(f"{info.start or '?'} → {info.end or '?'}")
    details.append(f"counts below {config.disclosure.min_count} suppressed")
    head.append(" · ".join(details))

    datasets = _render.table(
        "Datasets", ["name", "deliveries", "latest", "rows", "cols", "retention"], [], expand=False
    )
    for name, ds in config.datasets.items():
        latest = ds.latest
        datasets.add_row(
            name,
            str(len(ds.deliveries)),
            latest.file if latest else "— (add one with `expedition data add`)",
            f"{latest.rows:,}" if latest else "",
            str(len(latest.columns)) if latest else "",
            kept[name].describe(),
        )
    made_table = _render.table("Made in the expedition", ["name", "kind", "from", "rows", "state"], [], expand=False)
    for name, m in made.items():
        made_table.add_row(name, m["kind"], ", ".join(m["from"]), f"{m['rows']:,}" if m["rows"] is not None else "",
                           "made" if m["made"] else f"not made yet (`expedition {'prepare' if m['kind'] == 'derived' else 'link'} {name}`)")
    steps = _render.table("Steps", ["id", "step", "dataset", "finding"], [], expand=False)
    for step in config.steps:
        steps.add_row(step.id, step.step, step.dataset or "", "stored" if stored[step.id] else "not run yet")

    footer = Text()
    footer.append("Last run: ", style="bold")
    footer.append(f"{last_run['time']} ({len(last_run.get('steps', []))} steps)\n" if last_run else "never\n")
    footer.append("Last pack: ", style="bold")
    footer.append(
        f"{last_pack['path']} ({last_pack.get('status', 'draft')}, {last_pack['time']})\n" if last_pack else "none yet\n"
    )
    footer.append("Review: ", style="bold")
    if review.latest is None:
        footer.append("none yet (`expedition review --by NAME` signs off the findings)")
    elif review.signed:
        footer.append(f"{review.describe()}; covers every stored finding")
    else:
        footer.append(f"last by {review.latest.by} on {review.latest.date}; {review.describe()}")

    parts = [head]
    parts.append(datasets if config.datasets else Text("\nNo datasets yet: `expedition data add FILE --name NAME`."))
    if made:
        parts.append(made_table)
    parts.append(steps if config.steps else Text("\nNo steps yet: add them under 'steps:' in expedition.yaml."))
    parts.append(footer)
    _render.console.print(Panel(Group(*parts), title=f"expedition · {proj.root}", title_align="left", border_style="cyan"))


def _made(proj) -> dict:
    """The derived datasets and links, with what they read and their rows when made."""
    from expedition.errors import ConfigError
    from expedition.link import record_path as link_record
    from expedition.prepare import inputs_of
    from expedition.prepare import record_path as derived_record

    out = {}
    for name in proj.config.derived:
        try:
            inputs = inputs_of(proj, name)
        except ConfigError:
            inputs = []
        out[name] = {"kind": "derived", "from": inputs, **_rows(derived_record(proj, name))}
    for name, spec in proj.config.links.items():
        out[name] = {"kind": "link", "from": list(spec.datasets), **_rows(link_record(proj, name))}
    return out


def _rows(path) -> dict:
    import json

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"made": False, "rows": None}
    rows = record.get("rows")
    return {"made": True, "rows": rows if isinstance(rows, int) else None}
