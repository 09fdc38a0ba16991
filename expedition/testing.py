"""Conformance checks for analysis steps, built-in or third-party.

``check_step(MyStep)`` runs every check and raises `StepCheckFailed` naming the first that fails;
``step_checks(MyStep)`` gives them one by one, for one test per check (as scikit-learn's
``parametrize_with_checks`` does)::

    import pytest
    from expedition.steps import available_steps
    from expedition.testing import step_checks

    @pytest.mark.parametrize(
        "check", [c for s in available_steps().values() for c in step_checks(s)], ids=str
    )
    def test_step_conforms(check):
        check()

The checks:

* **declaration** — ``name``, ``summary`` and ``version`` are set, ``Params`` is a ``StepParams``
  that rejects unknown parameters, every parameter has a description, ``describe()`` works;
* **constructs** — the step class builds with no arguments and does no work doing so;
* **runs** — on its example the step returns a `Finding` whose tables mark every column with a
  kind and whose figures point at tables it has, with at least one headline; every sentence's
  numbers sit in slots the gate can see (`expedition.finding.say`);
* **input_unchanged** — the data the step was given are the same afterwards;
* **deterministic** — two runs with the same seed give identical tables, metrics and headlines;
* **no_files** — the step writes no file anywhere (steps do no I/O; the runner stores findings);
* **disclosure** — the finding passes through `expedition.disclosure.apply`, and every chart it
  declares draws from the gated tables (`publish`), the same bytes twice;
* **bad_params** — an unknown parameter is a `StepError` that lists the valid ones;
* **no_rows** — an empty frame gives an `ExpeditionError` (or a finding), never another exception.

**The example.** A step may declare ``example()``, a classmethod returning ``(frame, params)``:
a small Polars (Lazy)Frame and the raw parameters (as they would be written in
``expedition.yaml``) the step runs on. Without one, the checks use 300 rows of the synthetic
referrals (``expedition.examples.referrals.generate``) and default parameters; a step with
required parameters must declare an example. Keep the example small: the checks run the step
about four times.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expedition.config import DisclosureConfig
from expedition.errors import ExpeditionError, StepError
from expedition.finding import COLUMN_KINDS, Finding
from expedition.steps import Step, StepContext, StepParams

__all__ = ["StepCheckFailed", "attack", "check_step", "example_input", "publish", "step_checks"]

#: the disclosure rules the checks run under
RULES = DisclosureConfig(min_count=10)


class StepCheckFailed(AssertionError):
    """A step does not meet the step protocol; the message says which check and why."""


@dataclass(frozen=True)
class Check:
    step: type[Step]
    name: str
    func: Callable[[type[Step]], None]

    def __call__(self) -> None:
        try:
            self.func(self.step)
        except StepCheckFailed:
            raise
        except Exception as exc:
            raise StepCheckFailed(
                f"step {getattr(self.step, 'name', self.step)!r} failed check {self.name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def __str__(self) -> str:
        return f"{getattr(self.step, 'name', self.step.__name__)}-{self.name}"


def _fail(step: type[Step], check: str, message: str) -> StepCheckFailed:
    return StepCheckFailed(f"step {getattr(step, 'name', step.__name__)!r} failed check {check!r}: {message}")


def example_input(step: type[Step]) -> tuple[Any, dict[str, Any]]:
    """The (LazyFrame, raw params) the checks run *step* on."""
    import polars as pl

    declared = step.example() if hasattr(step, "example") else None
    if declared is None:
        from expedition.examples.referrals import generate

        required = [n for n, f in step.Params.model_fields.items() if f.is_required()]
        if required:
            raise _fail(
                step, "example",
                f"the step has required parameters ({', '.join(required)}) and no example(): "
                "declare a classmethod example() returning (frame, params)",
            )
        frame, params = generate(300, seed=3), {}
    else:
        frame, params = declared
    if isinstance(frame, pl.DataFrame):
        frame = frame.lazy()
    if not isinstance(frame, pl.LazyFrame):
        raise _fail(step, "example", f"example() must return a Polars frame, not {type(frame).__name__}")
    return frame, dict(params or {})


def publish(finding: Finding, rules: DisclosureConfig = RULES) -> Finding:
    """A step's finding as a reader would see it: through the disclosure gate on its own, with
    its charts drawn and documents rendered from the gated tables."""
    from expedition import disclosure
    from expedition.steps._plot import draw_finding

    return draw_finding(disclosure.apply_detailed(finding, rules), rules)


def attack(findings: list[Finding], rules: DisclosureConfig = RULES) -> list[str]:
    """Attack what these findings would publish together, as a reader holding all of it would:
    every small count in a published table, sentence or metric, and every suppressed count the
    auditor can pin from the rest (`expedition.disclosure.system.audit`). Empty when sound."""
    from expedition import disclosure
    from expedition.disclosure.gate import audit_gated

    m = rules.min_count
    gated = disclosure.gate_findings(list(findings), rules)
    problems = []
    for g in gated:
        for name, table in g.finding.tables.items():
            for column, kind in table.kinds.items():
                if kind != "count":
                    continue
                for row, value in enumerate(table.frame[column].to_list()):
                    if value is not None and (0 < value < m or (value == 0 and rules.zeros_disclosive)):
                        problems.append(f"{g.finding.id}: table {name} column {column} row {row}: {value} < {m}")
        for item in g.published_counts:
            v = item["value"]
            if 0 < v < m:
                problems.append(f"{g.finding.id}: {item['where']} publishes {v} < {m}")
        for name, kind in g.finding.metric_kinds.items():
            v = g.finding.metrics.get(name)
            if kind == "count" and v is not None and 0 < v < m:
                problems.append(f"{g.finding.id}: metric {name} = {v} < {m}")
    problems += [e.describe(m) for e in audit_gated(gated, rules)]
    return problems


def _context(seed: int = 42) -> StepContext:
    return StepContext(seed=seed, dataset="example", disclosure=RULES)


_FIRST_RUN: dict[type[Step], Finding] = {}


def _run(step: type[Step], seed: int = 42, *, fresh: bool = True) -> Finding:
    """Run *step* on its example; ``fresh=False`` may reuse the first such run (seed 42)."""
    if not fresh and seed == 42 and step in _FIRST_RUN:
        return _FIRST_RUN[step]
    frame, params = example_input(step)
    finding = step().run(frame, step.parse_params(params), _context(seed))
    if seed == 42 and isinstance(finding, Finding):
        _FIRST_RUN.setdefault(step, finding)
    return finding


# --------------------------------------------------------------------------- the checks


def check_declaration(step: type[Step]) -> None:
    for attribute in ("name", "summary", "version"):
        value = getattr(step, attribute, None)
        if not isinstance(value, str) or not value.strip():
            raise _fail(step, "declaration", f"the class variable {attribute!r} must be a non-empty string")
    if not (isinstance(step.Params, type) and issubclass(step.Params, StepParams)):
        raise _fail(step, "declaration", "Params must subclass expedition.steps.StepParams")
    if step.Params.model_config.get("extra") != "forbid":
        raise _fail(step, "declaration", "Params must forbid unknown parameters (extra='forbid')")
    undocumented = [n for n, f in step.Params.model_fields.items() if not f.description]
    if undocumented:
        raise _fail(
            step, "declaration",
            f"parameters without a description (shown by `expedition steps show`): {', '.join(undocumented)}",
        )
    described = step.describe()
    if described["name"] != step.name or not described["summary"]:
        raise _fail(step, "declaration", "describe() must give the step's name and summary")


def check_constructs(step: type[Step]) -> None:
    instance = step()
    if vars(instance):
        raise _fail(step, "constructs", f"building the step set attributes {sorted(vars(instance))}; steps hold no state")


def check_runs(step: type[Step]) -> None:
    finding = _run(step, fresh=False)
    if not isinstance(finding, Finding):
        raise _fail(step, "runs", f"run() returned {type(finding).__name__}, not a Finding")
    if finding.step != step.name:
        raise _fail(step, "runs", f"the finding's step is {finding.step!r}, not {step.name!r}")
    from expedition.finding import Chart, Sentence

    if not finding.headlines or not all(
        (isinstance(h, str) and h.strip()) or isinstance(h, Sentence) for h in finding.headlines
    ):
        raise _fail(step, "runs", "a finding needs at least one plain-English headline")
    for name, table in finding.tables.items():
        unknown = {c: k for c, k in table.kinds.items() if k not in COLUMN_KINDS}
        if unknown or set(table.kinds) != set(table.frame.columns):
            raise _fail(step, "runs", f"table {name!r} must give every column a kind")
    for name, figure in finding.figures.items():
        if not figure.alt or (not isinstance(figure, Chart) and not figure.png):
            raise _fail(step, "runs", f"figure {name!r} needs alt text (and a drawing, or PNG bytes)")


def check_input_unchanged(step: type[Step]) -> None:
    frame, params = example_input(step)
    before = frame.collect()
    kept = before.clone()
    step().run(before.lazy(), step.parse_params(params), _context())
    if not before.equals(kept) or not frame.collect().equals(kept):
        raise _fail(step, "input_unchanged", "the step changed the data it was given")


def check_deterministic(step: type[Step]) -> None:
    a, b = _run(step, fresh=False), _run(step)
    if sorted(a.tables) != sorted(b.tables):
        raise _fail(step, "deterministic", "two runs with the same seed gave different tables")
    for name in a.tables:
        ta, tb = a.tables[name], b.tables[name]
        if ta.kinds != tb.kinds or not ta.frame.equals(tb.frame):
            raise _fail(step, "deterministic", f"table {name!r} differs between two runs with the same seed")
    if a.to_dict()["headlines"] != b.to_dict()["headlines"]:
        raise _fail(step, "deterministic", "the headlines differ between two runs with the same seed")
    if {k: str(v) for k, v in a.metrics.items()} != {k: str(v) for k, v in b.metrics.items()}:
        raise _fail(step, "deterministic", "the metrics differ between two runs with the same seed")


def check_no_files(step: type[Step]) -> None:
    """Run in an empty working folder with an audit hook watching every file opened for writing."""
    frame, params = example_input(step)
    parsed = step.parse_params(params)
    allowed = _allowed_write_roots()
    written: list[str] = []
    _WATCH.append(written)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            os.chdir(tmp)
            step().run(frame, parsed, _context())
        finally:
            os.chdir(cwd)
            _WATCH.remove(written)
        left = sorted(p.name for p in Path(tmp).iterdir())
    outside = [p for p in written if not any(_within(p, root) for root in allowed)]
    if left or outside:
        raise _fail(step, "no_files", f"the step wrote files: {', '.join(left + outside)}")


def check_disclosure(step: type[Step]) -> None:
    from expedition.finding import Chart, Figure

    finding = _run(step, fresh=False)
    once, twice = publish(finding), publish(finding)
    if not once.gated:
        raise _fail(step, "disclosure", "the published finding still holds slots, charts or documents")
    withheld = sorted(n for n, f in finding.figures.items() if isinstance(f, Figure) and n not in once.figures)
    if withheld:
        raise _fail(
            step, "disclosure",
            f"figures {', '.join(withheld)} would be withheld by the disclosure gate: declare them as "
            "expedition.finding.Chart drawings of the finding's tables",
        )
    for name, figure in finding.figures.items():
        if isinstance(figure, Chart) and name in once.figures:
            a, b = once.figures[name], twice.figures[name]
            if not a.png or a.png != b.png or a.svg != b.svg:
                raise _fail(step, "disclosure", f"chart {name!r} does not draw the same bytes twice")


def check_bad_params(step: type[Step]) -> None:
    try:
        step.parse_params({"no_such_parameter_xyz": 1})
    except StepError as exc:
        valid = list(step.Params.model_fields)
        if valid and not any(v in exc.fix for v in valid):
            raise _fail(step, "bad_params", "the error for an unknown parameter must list the valid ones") from None
        return
    raise _fail(step, "bad_params", "an unknown parameter was accepted")


def check_no_rows(step: type[Step]) -> None:
    frame, params = example_input(step)
    empty = frame.head(0)
    try:
        result = step().run(empty, step.parse_params(params), _context())
    except ExpeditionError:
        return
    if not isinstance(result, Finding):
        raise _fail(step, "no_rows", f"on an empty frame run() returned {type(result).__name__}")


CHECKS: dict[str, Callable[[type[Step]], None]] = {
    "declaration": check_declaration,
    "constructs": check_constructs,
    "runs": check_runs,
    "input_unchanged": check_input_unchanged,
    "deterministic": check_deterministic,
    "no_files": check_no_files,
    "disclosure": check_disclosure,
    "bad_params": check_bad_params,
    "no_rows": check_no_rows,
}


def step_checks(step: type[Step]) -> list[Check]:
    """Every conformance check for *step*, each callable with no arguments."""
    return [Check(step, name, func) for name, func in CHECKS.items()]


def check_step(step: type[Step]) -> None:
    """Run every conformance check on *step*; raise `StepCheckFailed` at the first failure."""
    for check in step_checks(step):
        check()


# --------------------------------------------------------------------------- watching writes

_WATCH: list[list[str]] = []
_HOOKED = False


def _audit(event: str, args: tuple) -> None:
    if not _WATCH or event != "open":
        return
    path, mode, flags = (tuple(args) + (None, None, None))[:3]
    if isinstance(path, int) or path is None:
        return
    writing = False
    if isinstance(mode, str) and any(ch in mode for ch in "wax+"):
        writing = True
    elif isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        writing = True
    if writing:
        for watcher in _WATCH:
            watcher.append(os.fsdecode(path))


def _allowed_write_roots() -> list[str]:
    """Caches libraries keep outside the data (matplotlib's font cache), and device files."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    roots = ["/dev/"]
    try:
        import matplotlib

        roots.append(matplotlib.get_cachedir())
        roots.append(matplotlib.get_configdir())
    except Exception:
        pass
    return [os.path.realpath(r) for r in roots]


def _within(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip("/") + "/")
