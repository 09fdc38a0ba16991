"""Profiling: what a delivery really contains, read once with Polars.

``expedition.profile(path_or_frame)`` reads a file (CSV/TSV in any common encoding, Excel,
Parquet, JSON lines) or a Polars/pandas frame in one streaming pass and returns a `Profile`:
per-column physical and semantic types, counts, missing values, distinct and top values,
numeric, text and date statistics, numbers or dates stored as text, personal-data hints; per
dataset rows, duplicates, candidate keys, memory, correlations and associations; and alerts,
each with its reason. ``to_dict()``/``to_json()`` give the versioned document described in
``docs/profile.md``; ``to_html()`` a self-contained page; in a notebook the profile shows itself.

``expedition.profile.compare(old, new)`` compares two deliveries; ``profile_dataset(project,
name)`` profiles a registered dataset's latest delivery and stores ``profile.json`` and
``profile.html`` in ``project.quality_dir(name)`` for the findings pack.

This module is callable, so ``expedition.profile(...)`` works whether ``expedition.profile``
is reached as the function (through ``import expedition``) or as this module (after
``import expedition.profile``); ``expedition.profile.compare`` works both ways too.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import types
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition._io import atomic_write_text
from expedition.errors import DataError
from expedition.profile._engine import SAMPLE_ROWS, SEED, ProgressCallback
from expedition.profile._infer import SCHEMA_VERSION, SEMANTIC_TYPES, THRESHOLDS

if TYPE_CHECKING:
    import polars as pl

    from expedition.profile._compare import Comparison
    from expedition.project import Project
    from expedition.reading import ReadOptions

__all__ = [
    "SCHEMA_VERSION",
    "SEMANTIC_TYPES",
    "THRESHOLDS",
    "Comparison",
    "Profile",
    "Target",
    "compare",
    "compare_profiles",
    "plan_targets",
    "profile",
    "profile_dataset",
    "resolve_target",
]

_MAX_REREADS = 64


class Profile:
    """The profile of one dataset: a JSON-ready document, plus the sample it was computed from.

    The sample (a uniform random sample of up to 100,000 rows) stays in memory for
    `compare` and is never written out: the document holds statistics, not rows.
    """

    def __init__(
        self,
        document: dict[str, Any],
        sample: pl.DataFrame | None = None,
        tables: dict[str, pl.DataFrame] | None = None,
    ) -> None:
        self._document = document
        self._sample = sample
        self._tables = tables or {}
        #: where `profile_dataset` stored this profile (paths relative to the project), if it did
        self.stored: list[str] = []

    # -- reading it -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._document["source"].get("name") or "data")

    @property
    def rows(self) -> int:
        return int(self._document["dataset"]["rows"])

    @property
    def columns(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._document["columns"])

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._document["alerts"])

    def column(self, name: str) -> dict[str, Any]:
        for col in self._document["columns"]:
            if col["name"] == name:
                return copy.deepcopy(col)
        raise KeyError(name)

    @property
    def sample(self) -> pl.DataFrame | None:
        """The rows the approximate statistics came from (not stored in profile.json)."""
        return self._sample

    # -- writing it -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._document)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self._document, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"

    def to_html(self, *, fragment: bool = False) -> str:
        """A self-contained page (no network requests), or with ``fragment=True`` a ``<section>``."""
        from expedition.profile._html import render_profile

        return render_profile(self._document, fragment=fragment)

    def _repr_html_(self) -> str:
        return self.to_html(fragment=True)

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``profile.json`` and ``profile.html`` into *folder* (each atomically)."""
        folder = Path(folder)
        return (
            atomic_write_text(folder / "profile.json", self.to_json()),
            atomic_write_text(folder / "profile.html", self.to_html()),
        )

    def __repr__(self) -> str:
        d = self._document["dataset"]
        return (
            f"<Profile {self.name!r}: {d['rows']:,} rows × {d['columns']} columns, "
            f"{len(self._document['alerts'])} alerts>"
        )


def _is_pandas(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "columns")


def _from_pandas(frame: Any) -> pl.DataFrame:
    """A pandas DataFrame as Polars (column by column when pyarrow is not installed)."""
    import polars as pl

    try:
        return pl.from_pandas(frame)
    except ImportError:
        columns = {}
        for name, series in frame.items():
            if series.dtype.kind in "biufmM":
                columns[str(name)] = series.to_numpy()
            else:
                columns[str(name)] = series.astype(object).where(series.notna(), None).tolist()
        return pl.DataFrame(columns)


def profile(
    source: str | Path | pl.DataFrame | pl.LazyFrame | Any,
    *,
    name: str | None = None,
    format: str | None = None,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = SEED,
    on_progress: ProgressCallback | None = None,
    options: ReadOptions | None = None,
) -> Profile:
    """Profile a data file or a frame in one pass.

    *source* is a path (CSV, TSV, Parquet, XLSX, JSON lines), a Polars DataFrame or LazyFrame,
    or a pandas DataFrame. ``sample_rows`` bounds the sample behind quantiles, histograms and
    correlations (data with no more rows are described exactly); ``seed`` fixes which rows it
    holds; ``on_progress(fraction, message)`` is called after each batch. *options* are how to
    read the file (those `expedition data add` recorded; detected when not given).
    """
    import polars as pl

    from expedition.profile._engine import ReadFailure, run_pass
    from expedition.profile._infer import build_profile

    started = datetime.now(timezone.utc)
    if sample_rows < 1:
        raise DataError(f"sample_rows must be at least 1, not {sample_rows}", "use the default, 100,000")
    info: dict[str, Any]
    if isinstance(source, (str, Path)):
        result, info = _profile_file(Path(source), format, sample_rows, seed, on_progress, options)
    else:
        if _is_pandas(source):
            source = _from_pandas(source)
        if not isinstance(source, (pl.DataFrame, pl.LazyFrame)):
            raise DataError(
                f"cannot profile a {type(source).__name__}",
                "pass a file path, a Polars DataFrame or LazyFrame, or a pandas DataFrame",
            )
        try:
            result = run_pass(source, sample_rows=sample_rows, seed=seed, on_progress=on_progress)
        except ReadFailure as exc:
            raise DataError(
                f"could not read the data: {str(exc.error).strip().splitlines()[0]}",
                "check the LazyFrame's source and expressions",
            ) from None
        info = {"kind": "frame", "path": None, "format": None, "bytes": None}
    info["name"] = name or info.get("name") or "data"
    source_doc = {"name": info.pop("name"), **info}
    document = build_profile(result, source_doc, seed=seed)
    document["run"] = {
        "created": started.isoformat(timespec="seconds"),
        "seconds": round(result.seconds, 3),
        "batches": result.batches,
        "expedition": _version(),
    }
    if on_progress is not None:
        on_progress(1.0, f"{result.rows:,} rows profiled")
    tables = {
        s.name: s.table.filter(pl.col("value").is_not_null())
        for s in result.columns
        if s.exact and s.table is not None
    }
    return Profile(document, result.sample, tables)


def _version() -> str:
    from expedition import __version__

    return __version__


def _profile_file(
    path: Path,
    format: str | None,
    sample_rows: int,
    seed: int,
    on_progress: ProgressCallback | None,
    options: ReadOptions | None = None,
) -> tuple[Any, dict[str, Any]]:
    """One pass over a file; read again (at most a few times) when a later row needs other types
    (or, for a file read without recorded options, another encoding or quoting)."""
    from expedition.profile._engine import DateLayoutMismatch, ReadFailure, run_pass
    from expedition.reading import open_recovering, read_failure

    overrides: dict[str, Any] = {}
    read_as_text: dict[str, str] = {}
    for _ in range(_MAX_REREADS):
        opened = open_recovering(path, options, format=format, schema_overrides=overrides,
                                 parse_dates=False)
        options = opened.options
        try:
            result = run_pass(
                opened.frame,
                sample_rows=sample_rows,
                seed=seed,
                estimated_rows=opened.estimated_rows,
                on_progress=on_progress,
                native_dates=opened.date_formats,
            )
        except DateLayoutMismatch as exc:
            import polars as pl

            overrides = {**overrides, exc.column: pl.String}
            read_as_text[exc.column] = f"'{exc.column}' has dates in more than one layout (or other text)"
            continue
        except ReadFailure as exc:
            recovery = read_failure(exc.error, path, options)
            fresh = {c: t for c, t in recovery.schema_overrides.items() if c not in overrides}
            if fresh:
                overrides = {**overrides, **fresh}
                read_as_text.update(dict.fromkeys(fresh, recovery.reason))
                continue
            changed = recovery.apply(options)
            if changed is None:
                raise DataError(
                    f"could not read the file: {str(exc.error).strip().splitlines()[0]}",
                    "check that the file is complete; export it again from the source system",
                    path=path,
                ) from None
            options = changed
            continue
        return result, _source_info(path, opened, result, read_as_text)
    raise DataError(
        f"more than {_MAX_REREADS} columns change type part-way through the file",
        "export the file again, checking that each column holds one kind of value",
        path=path,
    )


def _source_info(path: Path, opened: Any, result: Any, read_as_text: dict[str, str]) -> dict[str, Any]:
    """What the profile says about how the file was read (``source`` in the document)."""
    options = opened.options
    info: dict[str, Any] = {
        "name": path.stem,
        "kind": "file",
        "path": str(path),
        "format": options.format,
        "bytes": path.stat().st_size,
    }
    if options.text:
        info.update(
            encoding=options.encoding_label(),
            delimiter=options.delimiter,
            line_endings=options.line_endings,
            quoting=options.quoting,
            renamed_columns=[{"position": p, "original": o, "name": n} for p, o, n in options.renamed],
        )
        last = (options.columns or ("",))[-1]
        missing_last = next((s.nulls for s in result.columns if s.name == last), 0)
        # a short row leaves the last column empty: look for them only when it has gaps
        if options.short_rows == 0 or not missing_last:
            info["short_rows"] = {"count": 0, "header_fields": len(options.columns or ()), "examples": []}
        else:
            info["short_rows"] = opened.short_rows().to_dict()
    if options.format == "xlsx":
        info.update(
            sheet=options.sheet,
            sheets=list(opened.sheets) or [options.sheet],
            renamed_columns=[{"position": p, "original": o, "name": n} for p, o, n in options.renamed],
        )
    if options.format == "jsonl" and options.text_values:
        info["text_values"] = True
    info["notes"] = list(opened.notes)
    info["date_formats"] = dict(opened.date_formats)
    info["read_as_text"] = {**opened.read_as_text, **read_as_text}
    return info


# --------------------------------------------------------------------------- projects


@dataclass(frozen=True)
class Target:
    """What a command-line argument names: a file, or a delivery of a registered dataset."""

    path: Path
    label: str
    dataset: str | None = None
    version: int | None = None
    latest: bool = False
    sha256: str | None = None
    format: str | None = None
    options: ReadOptions | None = None


_REF = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)@(?:v(?P<v>\d+)|(?P<word>latest|previous))$")


def resolve_target(target: str | Path, project: Project | None = None) -> Target:
    """Resolve ``NAME``, ``NAME@v2``, ``NAME@latest``, ``NAME@previous`` or a path.

    A registered dataset's name wins over a file of the same name in the current folder.
    """
    from expedition.datasets import delivery_options, delivery_path

    text = str(target)
    match = _REF.match(text)
    datasets = project.config.datasets if project is not None else {}
    name = match.group("name") if match else text
    if project is not None and name in datasets:
        config = datasets[name]
        if not config.deliveries:
            raise DataError(
                f"dataset {name!r} has no deliveries yet",
                f"add one with `expedition data add FILE --name {name}`",
            )
        versions = [d.version for d in config.deliveries]
        if match and match.group("v"):
            version = int(match.group("v"))
        elif match and match.group("word") == "previous":
            if len(versions) < 2:
                raise DataError(
                    f"dataset {name!r} has only one delivery, so it has no previous one",
                    "add the next delivery with `expedition data add FILE --name " + name + "`",
                )
            version = versions[-2]
        else:
            version = versions[-1]
        path = delivery_path(project, name, version)
        delivery = next(d for d in config.deliveries if d.version == version)
        return Target(
            path=path,
            label=f"{name}@v{version}",
            dataset=name,
            version=version,
            latest=version == versions[-1],
            sha256=delivery.sha256,
            format=delivery.format,
            options=delivery_options(delivery),
        )
    if match and project is None and not Path(text).exists():
        raise DataError(
            f"{text!r} names a delivery, but there is no expedition here",
            "run the command inside an expedition (or pass --project DIR), or give a file path",
        )
    path = Path(text).expanduser()
    if path.exists():
        return Target(path=path, label=path.name)
    known = sorted(datasets)
    hint = ""
    if known:
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (datasets: {', '.join(known)})"
    raise DataError(
        f"there is no file or dataset called {text!r}{hint}",
        "give a path to a data file, or the name of a dataset added with `expedition data add`",
    )


def profile_dataset(
    project: Project,
    dataset: str,
    *,
    version: int | None = None,
    store: bool = True,
    on_progress: ProgressCallback | None = None,
) -> Profile:
    """Profile a registered dataset's latest (or given) delivery.

    The latest delivery's profile is stored as ``profile.json`` and ``profile.html`` in
    ``project.quality_dir(dataset)``, where `expedition pack` finds it; a profile of an older
    delivery is returned but not stored.
    """
    target = resolve_target(f"{dataset}@v{version}" if version else dataset, project)
    if target.dataset is None:
        raise DataError(f"there is no dataset called {dataset!r}", "see `expedition data list`")
    return _profile_target(project, target, store=store, on_progress=on_progress)


def _profile_target(
    project: Project | None, target: Target, *, store: bool, on_progress: ProgressCallback | None
) -> Profile:
    result = profile(target.path, name=target.dataset or target.path.stem, format=target.format,
                     on_progress=on_progress, options=target.options)
    if target.dataset is not None and project is not None:
        source = result._document["source"]
        source.update(
            dataset=target.dataset,
            delivery=target.version,
            sha256=target.sha256,
            path=project.relative(target.path),
        )
        if store and target.latest:
            from expedition._store import Unit

            folder = project.quality_dir(target.dataset)
            with Unit(project.root, f"profile {target.dataset}") as unit:  # json and html together
                unit.write_text(folder / "profile.json", result.to_json())
                unit.write_text(folder / "profile.html", result.to_html())
            result.stored = [project.relative(folder / n) for n in ("profile.json", "profile.html")]
            project.record(
                "profile",
                dataset=target.dataset,
                delivery=target.version,
                path=project.relative(folder / "profile.json"),
                alerts=len(result.alerts),
            )
    return result


def plan_targets(
    targets: list[str], project_dir: str | Path | None, *, compare: bool = False, html: bool = False
) -> tuple[Project | None, list[str]]:
    """The project (if any) and the targets a `profile` command line names.

    With no targets, every dataset of the expedition with a delivery; with ``compare``, exactly
    two targets, or one dataset name meaning its previous and latest deliveries.
    """
    from expedition.errors import ExpeditionError, ProjectNotFoundError
    from expedition.project import open_project

    try:
        project = open_project(project_dir)
    except ProjectNotFoundError:
        if project_dir is not None:
            raise
        project = None
    if compare:
        if len(targets) == 1:
            name = targets[0]
            if project is None or name not in project.config.datasets:
                raise ExpeditionError(
                    f"--compare with one argument needs a dataset of this expedition, not {name!r}",
                    "give two deliveries or files: `expedition profile --compare OLD NEW`",
                )
            return project, [f"{name}@previous", f"{name}@latest"]
        if len(targets) != 2:
            raise ExpeditionError(
                f"--compare needs two deliveries or files, got {len(targets)}",
                "e.g. `expedition profile --compare referrals@v1 referrals@v2`",
            )
        return project, list(targets)
    if not targets:
        if project is None:
            raise ExpeditionError(
                "give a file or dataset to profile (there is no expedition here)",
                "e.g. `expedition profile referrals.csv`, or run it inside an expedition",
            )
        targets = [n for n, d in project.config.datasets.items() if d.deliveries]
        if not targets:
            raise ExpeditionError(
                "this expedition has no datasets with deliveries yet",
                "add one with `expedition data add FILE --name NAME`, or give a file to profile",
            )
    if html and len(targets) > 1:
        raise ExpeditionError(
            f"--html writes one page, but {len(targets)} targets were given",
            "profile one dataset or file at a time with --html",
        )
    return project, list(targets)


def profile_target(
    target: str | Path,
    project: Project | None = None,
    *,
    store: bool = True,
    on_progress: ProgressCallback | None = None,
) -> Profile:
    """Profile what a command-line argument names (see `resolve_target`)."""
    return _profile_target(project, resolve_target(target, project), store=store, on_progress=on_progress)


# --------------------------------------------------------------------------- comparing


def compare(
    old: Profile | str | Path | Any,
    new: Profile | str | Path | Any,
    *,
    project: Project | None = None,
) -> Comparison:
    """Compare two deliveries: columns added or removed, type, missing-value and distinct changes,
    and distribution shift (PSI; Kolmogorov–Smirnov for numbers and dates), with alerts when a
    delivery changed materially. Each side is a `Profile` or anything `profile` accepts (or, with
    a *project*, ``NAME@v1``-style references)."""
    from expedition.profile._compare import compare_profiles as _compare

    def as_profile(value: Any) -> Profile:
        if isinstance(value, Profile):
            return value
        if isinstance(value, (str, Path)):
            return _profile_target(project, resolve_target(value, project), store=False, on_progress=None)
        return profile(value)

    return _compare(as_profile(old), as_profile(new))


def compare_profiles(old: Profile, new: Profile) -> Comparison:
    """`compare` for two profiles already made."""
    from expedition.profile._compare import compare_profiles as _compare

    return _compare(old, new)


def __getattr__(name: str) -> Any:
    if name == "Comparison":
        from expedition.profile._compare import Comparison

        return Comparison
    raise AttributeError(f"module 'expedition.profile' has no attribute {name!r}")


profile.compare = compare  # type: ignore[attr-defined]
profile.compare_profiles = compare_profiles  # type: ignore[attr-defined]
profile.Profile = Profile  # type: ignore[attr-defined]


class _CallableModule(types.ModuleType):
    """Lets ``expedition.profile(...)`` work when ``expedition.profile`` is this module."""

    def __call__(self, *args: Any, **kwargs: Any) -> Profile:
        return profile(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
