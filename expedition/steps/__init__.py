"""Analysis steps: the protocol every step follows, and the registry that finds them.

A step is a small class with no state and no I/O, like a kedro node::

    class MyStep(Step):
        name = "my-step"                     # the name used in expedition.yaml
        summary = "One line for `expedition steps`."
        version = "1"                        # bump when results change
        class Params(StepParams):            # unknown parameters are an error
            column: str
        def run(self, frame, params, ctx) -> Finding: ...

Steps are registered through the ``expedition.steps`` entry-point group, built-ins included, so a
third-party package adds a step the same way this package does::

    [project.entry-points."expedition.steps"]
    my-step = "my_package.steps:MyStep"
"""

from __future__ import annotations

import difflib
import inspect
import logging
import textwrap
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.finding import (
    COLUMN_KINDS,
    RECORDED,
    Cell,
    Chart,
    Count,
    Derived,
    Document,
    Figure,
    Finding,
    Items,
    Keys,
    Sentence,
    Table,
    Value,
    say,
    share,
)
from expedition.steps._registry import (
    ENTRY_POINT_GROUP,
    available_steps,
    get_step,
    step_names,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "COLUMN_KINDS",
    "ENTRY_POINT_GROUP",
    "RECORDED",
    "Cell",
    "Chart",
    "Count",
    "Derived",
    "Document",
    "Figure",
    "Finding",
    "Items",
    "Keys",
    "Sentence",
    "Value",
    "say",
    "share",
    "Step",
    "StepContext",
    "StepParams",
    "Table",
    "available_steps",
    "get_step",
    "require_columns",
    "step_names",
]

logger = logging.getLogger("expedition.steps")


class StepParams(BaseModel):
    """Base for a step's parameters: unknown names are an error, values are type-checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class StepContext:
    """What a step may know beyond its data and parameters.

    ``roles`` maps column names to their role in the dataset's data contract ("identifier",
    "protected", "target", "text", "geo", "date"), and ``personal`` names the columns the
    contract flags as personal data; both are empty when the dataset has no contract.
    """

    seed: int = 42
    dataset: str | None = None
    disclosure: DisclosureConfig = field(default_factory=DisclosureConfig)
    contract: Any = None
    roles: dict[str, str] = field(default_factory=dict)
    personal: frozenset[str] = frozenset()
    log: Callable[[str], None] = logger.info
    progress: Callable[[float, str], None] | None = None
    #: the linkage model's summary, when the dataset was made by `expedition link` (see
    #: `expedition.link`; read by the `linkage` step)
    link: dict[str, Any] | None = None
    #: what one record is, singular and plural (``expedition.yaml``'s ``subject:``); steps word
    #: their sentences with it, never with one domain's nouns
    subject: tuple[str, str] = ("record", "records")
    #: another step's stored finding by its id (before the gate), for a step that `reads` it
    finding: Callable[[str], Finding] | None = None

    @property
    def min_count(self) -> int:
        return self.disclosure.min_count

    def columns_with_role(self, role: str) -> list[str]:
        return [column for column, r in self.roles.items() if r == role]

    def report(self, fraction: float, message: str = "") -> None:
        if self.progress is not None:
            self.progress(min(max(fraction, 0.0), 1.0), message)


class Step:
    """Base class for analysis steps. Subclasses set the class variables and implement `run`."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    Params: ClassVar[type[StepParams]] = StepParams
    #: what the finding holds: table (or "figure NAME") -> one line, for `expedition steps show`
    outputs: ClassVar[dict[str, str]] = {}
    #: how the step is written in expedition.yaml (YAML), for `expedition steps show`
    yaml_example: ClassVar[str] = ""

    def run(self, frame: pl.LazyFrame, params: Any, ctx: StepContext) -> Finding:
        raise NotImplementedError

    @classmethod
    def recode_columns(cls, params: Any, columns: list[str]) -> list[str]:
        """The label columns this step tabulates, whose rare categories the runner combines
        before the step runs (see `expedition.disclosure.recode`). None by default."""
        return []

    @classmethod
    def reads(cls, params: Any) -> list[str]:
        """The ids of earlier steps whose findings this step reads (through ``ctx.finding``).
        The runner checks they come first, and runs this step again when they change."""
        return []

    @classmethod
    def recode_keep(cls, params: Any) -> list[Any]:
        """Values never recoded (e.g. the outcome value a step compares against)."""
        return []

    @classmethod
    def method_text(cls) -> str:
        """The method as the pack describes it: the class docstring after its first paragraph
        (or all of it), on one line per paragraph. The runner uses it when a finding gives none."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
        return " ".join(paragraphs[1:] or paragraphs)

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]] | None:
        """A tiny frame and raw parameters the step runs on, for `expedition.testing.check_step`.

        Return ``(frame, params)``; None (the default) means: run on a small synthetic referrals
        frame with default parameters.
        """
        return None

    @classmethod
    def parse_params(cls, raw: dict[str, Any] | None, *, where: str = "") -> StepParams:
        """Validate raw parameters from YAML, naming the bad parameter and the valid ones."""
        raw = dict(raw or {})
        try:
            return cls.Params.model_validate(raw)
        except ValidationError as exc:
            valid = ", ".join(cls.Params.model_fields) or "(none)"
            problems = []
            for error in exc.errors():
                param = ".".join(str(p) for p in error["loc"]) or "params"
                if error["type"] == "extra_forbidden":
                    close = difflib.get_close_matches(param, cls.Params.model_fields, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    problems.append(f"unknown parameter {param!r}{hint}")
                elif error["type"] == "missing":
                    problems.append(f"parameter {param!r} is required")
                else:
                    msg = error["msg"].removeprefix("Value error, ")
                    problems.append(f"parameter {param!r}: {msg} (got {error.get('input')!r})")
            prefix = f"{where}: " if where else ""
            raise StepError(
                f"{prefix}step '{cls.name}' " + "; ".join(problems),
                f"valid parameters for '{cls.name}' are: {valid} "
                f"(see `expedition steps show {cls.name}`)",
            ) from None

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Name, summary, version and parameters, for `expedition steps show`."""
        params = []
        for pname, info in cls.Params.model_fields.items():
            type_name = _type_name(info.annotation)
            default = None if info.is_required() else info.get_default(call_default_factory=True)
            params.append(
                {
                    "name": pname,
                    "type": type_name,
                    "required": info.is_required(),
                    "default": default,
                    "description": info.description or "",
                }
            )
        doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""
        return {
            "name": cls.name,
            "summary": cls.summary or (doc.splitlines()[0] if doc else ""),
            "description": doc,
            "version": cls.version,
            "params": params,
            "outputs": dict(cls.outputs),
            "example": textwrap.dedent(cls.yaml_example).strip("\n") if cls.yaml_example else "",
        }


def _type_name(annotation: Any) -> str:
    """A readable type: 'list[str] | None', 'one of holm, bh', 'dict[str, one of a, b]'."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None and args:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def require_columns(
    available: Iterable[str], wanted: Iterable[str | None], *, param: str, step: str
) -> None:
    """Check that every wanted column exists, suggesting a close name when it does not."""
    available = list(available)
    for column in wanted:
        if column is None or column in available:
            continue
        close = difflib.get_close_matches(column, available, n=1, cutoff=0.6)
        if not close:
            lowered = {c.lower(): c for c in available}
            if column.lower() in lowered:
                close = [lowered[column.lower()]]
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise StepError(
            f"step '{step}': parameter {param!r} names column {column!r}, which is not in the data",
            f"{hint}the columns are: {', '.join(available)}",
        )
