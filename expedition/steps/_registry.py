"""Discovering steps through the ``expedition.steps`` entry-point group.

Built-in steps are registered in this package's own ``pyproject.toml`` exactly as a third party
registers theirs. Listing names reads entry-point metadata only; a step's module is imported when
the step is needed. A plug-in that fails to import is skipped with a warning when listing, and
reported with its error when it is asked for by name.
"""

from __future__ import annotations

import warnings
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from expedition.errors import StepError

if TYPE_CHECKING:
    from expedition.steps import Step

ENTRY_POINT_GROUP = "expedition.steps"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            # The first registration wins; built-ins come from this package's metadata.
            warnings.warn(
                f"step {ep.name!r} is registered twice ({found[ep.name].value} and {ep.value}); "
                f"using {found[ep.name].value}",
                stacklevel=3,
            )
            continue
        found.setdefault(ep.name, ep)
    return found


def step_names() -> list[str]:
    """Names of every registered step, without importing any of them."""
    return sorted(_entry_points())


def _load(ep: EntryPoint) -> type[Step]:
    from expedition.steps import Step

    obj = ep.load()
    if not (isinstance(obj, type) and issubclass(obj, Step)):
        raise TypeError(f"{ep.value} is not a subclass of expedition.steps.Step")
    if getattr(obj, "name", None) != ep.name:
        raise TypeError(f"{ep.value} has name {getattr(obj, 'name', None)!r}, expected {ep.name!r}")
    return obj


def get_step(name: str) -> type[Step]:
    """The step class registered as *name*; an unknown name lists the available ones."""
    eps = _entry_points()
    if name not in eps:
        import difflib

        names = sorted(eps)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        if not names:
            raise StepError(
                f"unknown step {name!r}: no steps are registered",
                "install expedition as a package (pip install .) so its steps are registered",
            )
        raise StepError(
            f"unknown step {name!r}",
            f"{hint}available steps: {', '.join(names)} (see `expedition steps`)",
        )
    try:
        return _load(eps[name])
    except Exception as exc:
        raise StepError(
            f"step {name!r} could not be loaded from {eps[name].value}: {exc}",
            "reinstall the package that provides it, or remove it from expedition.yaml",
        ) from exc


def available_steps() -> dict[str, type[Step]]:
    """Every step that loads; a broken plug-in warns and is skipped."""
    steps: dict[str, type[Step]] = {}
    for name, ep in sorted(_entry_points().items()):
        try:
            steps[name] = _load(ep)
        except Exception as exc:
            warnings.warn(f"skipping step {name!r} ({ep.value}): {exc}", stacklevel=2)
    return steps
