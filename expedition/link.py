"""Record linkage: records of several datasets linked into one person key, with Splink.

``links:`` in ``expedition.yaml`` names linked datasets::

    links:
      people:
        datasets: [social_care, police]   # two or more validated (or derived) datasets; one = deduplicate
        id: {social_care: case_ref, police: person_ref}   # or one name; default: the identifier role
        compare: {given_name: name, surname: name, date_of_birth: date, postcode: postcode, address_1: address}
        threshold: 0.9

``link(project, names)`` links them with Splink (DuckDB by default, Spark with ``engine: spark``)
and writes ``data/processed/NAME.parquet``: one row per source record with ``dataset``,
``record_id``, ``person_id`` and ``match_probability`` (of the record's best link), recorded in
``.expedition/links/NAME.json`` with every input's hash, the settings, the trained model's
parameters and the linkage-quality summary. Like a derived dataset, it is cached by what made it
and made again before a step (or a derived dataset's SQL) that reads it, when an input changed.

The model (Fellegi–Sunter, as Splink fits it):

- **Comparisons by kind.** ``name``: exact, Jaro–Winkler at 0.92, 0.88 and 0.7, with
  term-frequency adjustment (a match on a rare name counts for more); ``date``: exact, day and
  month transposed, within a month, within a year; ``postcode``: exact (term-frequency
  adjusted), same sector, same district (UK postcodes; other postcodes by their leading
  characters); ``address``: exact (term-frequency adjusted), Jaro–Winkler at 0.9 and 0.8;
  ``exact``: equal or not. Values are normalised first (case, spaces; dates read in the common
  layouts).
- **Blocking** (which pairs are scored at all): each date, all the names together, each
  postcode, each address; a rule that would score more than `MAX_BLOCK_PAIRS` pairs is left out
  (and said). ``blocking:`` replaces them.
- **Training.** The prior (the chance two random records match) from records agreeing on every
  name and date with an assumed recall of 0.7; u by random sampling (seeded); m by
  expectation-maximisation, blocking in turn on the blocking rules until every comparison is
  trained.
- **Clustering** of pairs at ``threshold`` (default 0.9: on FEBRL4 and the synthetic registers
  it gives the best F1 within 0.001 while keeping precision at 1.0; a higher threshold buys
  precision with recall).

Nothing personal leaves: the summary holds counts, parameters and the weight distribution; the
clerical review file (`expedition link review NAME`) and the scored pairs stay in
``.expedition/links/`` (git-ignored), never in a pack.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.errors import ConfigError, DataError
from expedition.project import Project

if TYPE_CHECKING:
    import polars as pl

    from expedition.validation import ValidatedData

#: Bumped when what `link` writes for the same inputs and settings changes.
LINK_VERSION = 1
#: Pairs scored below this match probability are not kept (nor counted in the summary).
PAIR_FLOOR = 0.001
#: A derived blocking rule that would score more pairs than this is left out.
MAX_BLOCK_PAIRS = 20_000_000
#: Pairs sampled for the u estimates.
U_PAIRS = 1_000_000
#: Recall assumed for the deterministic rule that sets the prior.
PRIOR_RECALL = 0.7
#: Pairs written for clerical review.
REVIEW_PAIRS = 100
#: Match-weight bins of the distribution (pairs with weights outside go to the end bins).
WEIGHT_BINS = list(range(-10, 26, 5))

_DATE_LAYOUTS = ["%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d"]
_UK_POSTCODE = r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"


# --------------------------------------------------------------------------- paths and records


def links_dir(project: Project) -> Path:
    return project.state_dir / "links"


def record_path(project: Project, name: str) -> Path:
    return links_dir(project) / f"{name}.json"


def pairs_path(project: Project, name: str) -> Path:
    return links_dir(project) / f"{name}-pairs.parquet"


def charts_path(project: Project, name: str) -> Path:
    return links_dir(project) / f"{name}-charts.html"


def review_path(project: Project, name: str) -> Path:
    return links_dir(project) / f"{name}-review.csv"


def output_path(project: Project, name: str) -> Path:
    return project.processed_dir / f"{name}.parquet"


def _read_record(project: Project, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(project, name).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class Linked:
    """A linked dataset: what it is made of, where it is, and how good the linkage is."""

    name: str
    file: str
    sha256: str
    rows: int
    clusters: int
    inputs: list[dict[str, Any]]
    settings: dict[str, Any]
    key: str
    cached: bool
    quality: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "sha256": self.sha256, "rows": self.rows,
                "clusters": self.clusters, "inputs": self.inputs, "settings": self.settings,
                "key": self.key, "cached": self.cached, "quality": self.quality,
                "seconds": round(self.seconds, 3)}

    @classmethod
    def from_record(cls, record: dict[str, Any], *, cached: bool) -> Linked:
        return cls(name=record["name"], file=record["file"], sha256=record["sha256"], rows=record["rows"],
                   clusters=record["clusters"], inputs=record["inputs"], settings=record["settings"],
                   key=record["key"], cached=cached, quality=record.get("quality") or {})


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Source:
    name: str
    frame: pl.LazyFrame
    id: str
    fingerprint: dict[str, Any]
    protected: list[str]
    lineage: dict[str, Any]


def _config(project: Project, name: str) -> Any:
    links = project.config.links
    if name not in links:
        known = ", ".join(links) or "none yet"
        raise ConfigError(f"no link called {name!r} (links: {known})",
                          "declare it under 'links:' in expedition.yaml (see the README)",
                          path=project.config_path)
    return links[name]


def _sources(project: Project, name: str) -> list[_Source]:
    """The datasets a link reads, opened, with their identifier columns; every problem a
    ConfigError naming the link, the dataset and the column."""
    from expedition.prepare import _open_input

    spec = _config(project, name)
    known = [*project.config.datasets, *project.config.derived, *project.config.links]
    out = []
    for dataset in spec.datasets:
        if dataset not in known:
            import difflib

            close = difflib.get_close_matches(dataset, known, n=1)
            raise ConfigError(
                f"link {name!r} reads {dataset!r}, which is not a dataset"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                f"name validated or derived datasets under links.{name}.datasets "
                f"(datasets: {', '.join(known) or 'none yet'})", path=project.config_path)
        if dataset in project.config.links:
            raise ConfigError(f"link {name!r} reads {dataset!r}, which is a link",
                              "link validated or derived datasets: name the datasets "
                              f"{dataset!r} links under links.{name}.datasets instead",
                              path=project.config_path)
        if dataset in project.config.datasets:
            from expedition.validation import require_validated

            require_validated(project, dataset, reader=f"link {name!r}")
        opened = _open_input(project, dataset)
        columns = opened.frame.collect_schema().names()
        id_column = _id_column(project, name, spec, dataset, opened.contract, columns)
        missing = [c for c in spec.compare if c not in columns]
        if missing:
            raise ConfigError(
                f"link {name!r} compares {', '.join(repr(c) for c in missing)}, which "
                f"{'is not a column' if len(missing) == 1 else 'are not columns'} of {dataset!r}",
                f"compare columns every linked dataset has ({dataset}: {', '.join(columns)}); "
                "rename a column with a derived dataset (SELECT x AS y ...) if the names differ",
                path=project.config_path)
        protected = [c for c, r in (opened.contract.roles or {}).items() if r == "protected" and c in columns]
        out.append(_Source(dataset, opened.frame, id_column, opened.fingerprint, protected, opened.lineage()))
    return out


def _id_column(project: Project, name: str, spec: Any, dataset: str, contract: Any, columns: list[str]) -> str:
    if isinstance(spec.id, dict):
        chosen = spec.id.get(dataset)
        if chosen is None:
            raise ConfigError(f"link {name!r} names no id column for {dataset!r}",
                              f"add {dataset}: COLUMN under links.{name}.id", path=project.config_path)
    elif isinstance(spec.id, str):
        chosen = spec.id
    else:
        ids = [c for c, r in (contract.roles or {}).items() if r == "identifier" and c in columns]
        if len(ids) != 1:
            raise ConfigError(
                f"link {name!r}: {dataset!r} has {'no' if not ids else 'more than one'} column with the "
                "identifier role, so its records' id is not known",
                f"set links.{name}.id to the column (or {{{dataset}: COLUMN, ...}}), or give one column "
                f"'role: identifier' in its contract", path=project.config_path)
        chosen = ids[0]
    if chosen not in columns:
        raise ConfigError(f"link {name!r}: {chosen!r} is not a column of {dataset!r}",
                          f"set links.{name}.id to one of: {', '.join(columns)}", path=project.config_path)
    return chosen


def _settings(spec: Any) -> dict[str, Any]:
    return {"datasets": list(spec.datasets), "id": spec.id, "compare": dict(spec.compare),
            "threshold": spec.threshold, "blocking": spec.blocking, "engine": spec.engine}


def _key(settings: dict[str, Any], sources: list[_Source], seed: int) -> str:
    payload = {"version": LINK_VERSION, "settings": settings, "seed": seed,
               "inputs": [[s.name, s.fingerprint.get("validated_sha256")] for s in sources]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- linking


def link(project: Project, names: Sequence[str] | None = None, *, force: bool = False,
         on_progress: Callable[[str, str], None] | None = None) -> list[Linked]:
    """Link the named links (default: all); one whose inputs and settings are unchanged is reused
    unless *force*."""
    from expedition._lock import project_lock

    wanted = list(names) if names else list(project.config.links)
    if not wanted:
        raise ConfigError("expedition.yaml declares no links",
                          "add one under 'links:' with its datasets and the columns to compare "
                          "(see the README)", path=project.config_path)
    for name in wanted:
        _config(project, name)
    with project_lock(project.root, "link"):
        return [_link_one(project, name, force=force, on_progress=on_progress) for name in wanted]


def ensure_linked(project: Project, name: str) -> Linked:
    """*name* linked and current (linked now if it was not)."""
    return link(project, [name])[-1]


def _link_one(project: Project, name: str, *, force: bool,
              on_progress: Callable[[str, str], None] | None) -> Linked:
    import time

    from expedition._io import sha256_file

    started = time.perf_counter()
    notify = on_progress or (lambda event, detail: None)
    spec = _config(project, name)
    sources = _sources(project, name)
    settings = _settings(spec)
    key = _key(settings, sources, project.config.seed)
    out = output_path(project, name)
    record = _read_record(project, name)
    if (not force and record is not None and record.get("key") == key and out.exists()
            and sha256_file(out) == record.get("sha256")):
        notify("cached", name)
        return Linked.from_record(record, cached=True)
    notify("start", name)
    frames = {s.name: s.frame.collect() for s in sources}
    ids = {s.name: s.id for s in sources}
    result = link_frames(frames, ids, dict(spec.compare), threshold=spec.threshold, blocking=spec.blocking,
                         engine=spec.engine, seed=project.config.seed)
    quality = result.quality
    quality["bias"] = _bias(result.records, frames, ids, {s.name: s.protected for s in sources})
    old_review = (record or {}).get("quality", {}).get("review") if record else None
    if old_review and old_review.get("key") == key:
        quality["review"] = old_review
    return _write(project, name, result, sources, settings, key, quality, started)


def _write(project: Project, name: str, result: LinkResult, sources: list[_Source], settings: dict[str, Any],
           key: str, quality: dict[str, Any], started: float) -> Linked:
    import time

    from expedition._io import sha256_file
    from expedition._store import Unit

    out = output_path(project, name)
    with Unit(project.root, f"link {name}") as unit:
        tmp = unit.file(out)
        result.records.write_parquet(tmp, compression="lz4", statistics=False)
        pairs_tmp = unit.file(pairs_path(project, name))
        result.pairs.write_parquet(pairs_tmp, compression="lz4", statistics=False)
        if result.charts:
            unit.write_text(charts_path(project, name), result.charts)
        linked = Linked(name=name, file=project.relative(out), sha256=sha256_file(tmp),
                        rows=result.records.height, clusters=int(result.records["person_id"].n_unique()),
                        inputs=[s.lineage for s in sources], settings=settings, key=key, cached=False,
                        quality=quality, seconds=time.perf_counter() - started)
        unit.write_text(record_path(project, name), json.dumps(linked.to_dict(), indent=2, default=str) + "\n")
    project.record("link", dataset=name, rows=linked.rows, clusters=linked.clusters, sha256=linked.sha256,
                   inputs=[s.name for s in sources])
    return linked


@dataclass
class LinkResult:
    """What linking found: the records with their person ids, the scored pairs, the quality."""

    records: pl.DataFrame   # dataset, record_id, person_id, match_probability
    pairs: pl.DataFrame     # dataset_l, record_id_l, dataset_r, record_id_r, match_weight, match_probability
    quality: dict[str, Any]
    #: Splink's charts of the model (parameters only), as one self-contained HTML page
    charts: str | None = None


def _safe(column: str, taken: set[str]) -> str:
    safe = re.sub(r"[^a-z0-9_]", "_", column.lower()).strip("_") or "col"
    if safe[0].isdigit():
        safe = "c_" + safe
    base, n = safe, 2
    while safe in taken or safe in {"unique_id", "source_dataset", "match_key"}:
        safe, n = f"{base}_{n}", n + 1
    taken.add(safe)
    return safe


def _normalised(frame: pl.DataFrame, compare: dict[str, str], safe: dict[str, str]) -> pl.DataFrame:
    """The compared columns normalised for Splink, under their safe names (postcodes with their
    sector and district beside them)."""
    import polars as pl

    out = []
    for column, kind in compare.items():
        value = pl.col(column)
        name = safe[column]
        if kind == "date":
            dtype = frame.schema[column]
            if dtype == pl.Date:
                expr = value
            elif isinstance(dtype, pl.Datetime):
                expr = value.dt.date()
            else:
                text = value.cast(pl.Utf8).str.strip_chars()
                expr = pl.coalesce([text.str.strptime(pl.Date, f, strict=False) for f in _DATE_LAYOUTS])
            out.append(expr.alias(name))
            continue
        text = value.cast(pl.Utf8)
        if kind == "postcode":
            code = text.str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "")
            code = pl.when(code.str.len_chars() > 0).then(code)
            uk = code.str.contains(_UK_POSTCODE)
            n = code.str.len_chars()
            out += [code.alias(name),
                    pl.when(uk).then(code.str.slice(0, n - 2)).otherwise(code.str.slice(0, n - 1))
                    .alias(f"{name}_sector"),
                    pl.when(uk).then(code.str.slice(0, n - 3)).otherwise(code.str.slice(0, n - 2))
                    .alias(f"{name}_district")]
            continue
        text = text.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
        if kind == "name":
            text = text.str.replace_all(r"[^\w\s'-]", "")
        out.append(pl.when(text.str.len_chars() > 0).then(text).alias(name))
    return frame.select(out)


def _comparisons(compare: dict[str, str], safe: dict[str, str]) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    made = []
    for column, kind in compare.items():
        c = safe[column]
        if kind == "name":
            made.append(cl.NameComparison(c).configure(term_frequency_adjustments=True))
        elif kind == "date":
            made.append(cl.CustomComparison([
                cll.NullLevel(c), cll.ExactMatchLevel(c),
                cll.CustomLevel(f"month({c}_l) = day({c}_r) AND day({c}_l) = month({c}_r) "
                                f"AND year({c}_l) = year({c}_r)", "day and month transposed"),
                cll.AbsoluteDateDifferenceLevel(c, input_is_string=False, threshold=1, metric="month"),
                cll.AbsoluteDateDifferenceLevel(c, input_is_string=False, threshold=1, metric="year"),
                cll.ElseLevel()], output_column_name=c, comparison_description=f"{column} (date)"))
        elif kind == "postcode":
            made.append(cl.CustomComparison([
                cll.NullLevel(c), cll.ExactMatchLevel(c, term_frequency_adjustments=True),
                cll.CustomLevel(f"{c}_sector_l = {c}_sector_r", "same sector"),
                cll.CustomLevel(f"{c}_district_l = {c}_district_r", "same district"),
                cll.ElseLevel()], output_column_name=c, comparison_description=f"{column} (postcode)"))
        elif kind == "address":
            made.append(cl.CustomComparison([
                cll.NullLevel(c), cll.ExactMatchLevel(c, term_frequency_adjustments=True),
                cll.JaroWinklerLevel(c, 0.9), cll.JaroWinklerLevel(c, 0.8),
                cll.ElseLevel()], output_column_name=c, comparison_description=f"{column} (address)"))
        else:
            made.append(cl.ExactMatch(c))
    return made


def derived_blocking(compare: dict[str, str]) -> list[list[str]]:
    """Blocking rules from the comparisons: each date, all the names together, each postcode,
    each address (each exact column, when nothing else gives a rule)."""
    by_kind: dict[str, list[str]] = {}
    for column, kind in compare.items():
        by_kind.setdefault(kind, []).append(column)
    rules = [[c] for c in by_kind.get("date", [])]
    if by_kind.get("name"):
        rules.append(list(by_kind["name"]))
    rules += [[c] for c in by_kind.get("postcode", [])] + [[c] for c in by_kind.get("address", [])]
    if not rules:
        rules = [[c] for c in by_kind.get("exact", [])]
    return rules


def _block_pairs(frames: list[pl.DataFrame], columns: list[str], dedupe: bool) -> int:
    """How many pairs a blocking rule on *columns* scores (every pair of records that agree on
    all of them, none empty)."""
    import polars as pl

    counts = [f.select(columns).drop_nulls().group_by(columns).len() for f in frames]
    total = pl.concat(counts).group_by(columns).agg(pl.col("len").sum())
    if dedupe:
        return int(total.select((pl.col("len") * (pl.col("len") - 1) / 2).sum()).item() or 0)
    joined = counts[0].join(counts[1], on=columns)
    return int(joined.select((pl.col("len") * pl.col("len_right")).sum()).item() or 0)


def link_frames(frames: dict[str, pl.DataFrame], ids: dict[str, str], compare: dict[str, str], *,
                threshold: float = 0.9, blocking: list[Any] | None = None, engine: str = "duckdb",
                seed: int = 42) -> LinkResult:
    """Link the records of *frames* (dataset name -> frame, *ids* its id column) with Splink.

    Splink's own messages (printed, and logged) are kept out of the output, so ``--json``
    prints only its document."""
    import contextlib
    import io
    import logging

    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return _link_frames(frames, ids, compare, threshold=threshold, blocking=blocking,
                                engine=engine, seed=seed)
    finally:
        logger.setLevel(level)


def _link_frames(frames: dict[str, pl.DataFrame], ids: dict[str, str], compare: dict[str, str], *,
                 threshold: float, blocking: list[Any] | None, engine: str, seed: int) -> LinkResult:
    import polars as pl

    taken: set[str] = set()
    safe = {c: _safe(c, taken) for c in compare}
    names = list(frames)
    prepared = []
    for index, (dataset, frame) in enumerate(frames.items()):
        ids_text = frame.get_column(ids[dataset]).cast(pl.Utf8)
        if ids_text.null_count():
            raise DataError(f"{dataset!r} has {ids_text.null_count()} record(s) with no {ids[dataset]!r}",
                            "every record needs its id to be linked: give the id column "
                            "'nullable: false' in its contract and validate again")
        if ids_text.n_unique() != frame.height:
            raise DataError(f"{ids[dataset]!r} is not unique in {dataset!r}",
                            "link on a column that identifies each record (unique: true in its contract)")
        norm = _normalised(frame, compare, safe)
        prepared.append(norm.with_columns(
            (pl.lit(f"{index}|") + ids_text).alias("unique_id")).select("unique_id", *norm.columns))
    dedupe = len(frames) == 1
    link_type = "dedupe_only" if dedupe else "link_and_dedupe"
    notes: list[str] = []
    if blocking:
        rules = [[r] if isinstance(r, str) else list(r) for r in blocking]
        unknown = sorted({c for r in rules for c in r if c not in safe})
        if unknown:
            raise ConfigError(f"blocking names {', '.join(repr(u) for u in unknown)}, which "
                              f"{'is' if len(unknown) == 1 else 'are'} not compared",
                              f"block on compared columns: {', '.join(compare)}")
    else:
        rules = []
        for rule in derived_blocking(compare):
            pairs = _block_pairs(prepared, [safe[c] for c in rule], dedupe=True)
            if pairs > MAX_BLOCK_PAIRS:
                notes.append(f"blocking on {' + '.join(rule)} was left out: it would score {pairs:,} pairs")
            else:
                rules.append(rule)
        if not rules:
            raise ConfigError("every blocking rule derived from the comparisons would score too many pairs",
                              "set 'blocking:' to columns that together narrow the pairs (e.g. "
                              "[[surname, date_of_birth], postcode])")
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="expedition-link-"))
    try:
        return _train_and_link(prepared, names, compare, safe, rules, notes, link_type, dedupe, threshold,
                               engine, seed, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train_and_link(prepared: list[pl.DataFrame], names: list[str], compare: dict[str, str], safe: dict[str, str],
                    rules: list[list[str]], notes: list[str], link_type: str, dedupe: bool, threshold: float,
                    engine: str, seed: int, scratch: Path) -> LinkResult:
    import polars as pl
    from splink import Linker, SettingsCreator, block_on

    block_rules = [block_on(*[safe[c] for c in r]) for r in rules]
    settings = SettingsCreator(
        link_type=link_type, unique_id_column_name="unique_id",
        comparisons=_comparisons(compare, safe),
        blocking_rules_to_generate_predictions=block_rules,
        retain_intermediate_calculation_columns=False, retain_matching_columns=False,
    )
    tables, db_api = _backend(engine, prepared, scratch)
    linker = Linker(tables if not dedupe else tables[0], settings, db_api=db_api,
                    **({} if dedupe else {"input_table_aliases": names}))
    strong = [safe[c] for c, k in compare.items() if k in ("name", "date")] or [safe[c] for c in compare]
    try:
        linker.training.estimate_probability_two_random_records_match([block_on(*strong)], recall=PRIOR_RECALL)
    except Exception as exc:  # no pair agrees on everything: Splink's default prior stays
        notes.append(f"the prior was not estimated ({type(exc).__name__}); Splink's default was used")
    linker.training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=seed)
    trained: set[str] = set()
    for rule in rules:
        blocked = {safe[c] for c in rule}
        if set(safe.values()) - blocked <= trained:
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*[safe[c] for c in rule]))
        except Exception as exc:
            notes.append(f"m was not estimated blocking on {' + '.join(rule)} ({type(exc).__name__})")
            continue
        trained |= set(safe.values()) - blocked
    untrained = [c for c in compare if safe[c] not in trained]
    if untrained:
        notes.append(f"m of {', '.join(untrained)} could not be estimated (Splink's defaults were used)")
    predictions = linker.inference.predict(threshold_match_probability=PAIR_FLOOR)
    pairs = _frame(predictions, engine).select(
        pl.col("unique_id_l"), pl.col("unique_id_r"), pl.col("match_weight").cast(pl.Float64),
        pl.col("match_probability").cast(pl.Float64))
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold)
    clustered = _frame(clusters, engine).select("unique_id", "cluster_id")
    model = linker.misc.save_model_to_json()
    records = _records(clustered, pairs, names, [p.height for p in prepared], prepared)
    pairs_out = _pairs_out(pairs, names)
    quality = _quality(records, pairs, model, compare, safe, threshold, rules, notes, link_type, engine)
    return LinkResult(records, pairs_out, quality, _charts(linker))


def _charts(linker: Any) -> str | None:
    """Splink's match-weights and m/u charts (the model's parameters, no record's values) as
    one HTML page with Vega's libraries inline (Splink's own page fetches them from a CDN), for
    the team to look at locally; never put in a pack."""
    import html
    from importlib import resources

    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            specs = [linker.visualisations.match_weights_chart().to_dict(),
                     linker.visualisations.m_u_parameters_chart().to_dict()]
        folder = resources.files("splink") / "internals" / "files" / "external_js"
        scripts = "".join(f"<script>{(folder / name).read_text(encoding='utf-8')}</script>\n"
                          for name in ("vega@5.31.0", "vega-lite@5.2.0", "vega-embed@6.20.2"))
    except Exception:  # a Splink without these charts or files: the link stands without them
        return None
    body = "".join(f'<div id="chart{i}"></div>' for i in range(len(specs)))
    embed = "".join(f"vegaEmbed('#chart{i}', {json.dumps(spec, default=str)}, {{actions: false}});\n"
                    for i, spec in enumerate(specs))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape('Linkage model')}</title>"
            f"{scripts}</head><body><h1>Linkage model: match weights and m/u parameters</h1>{body}"
            f"<script>{embed}</script></body></html>\n")


def _backend(engine: str, prepared: list[pl.DataFrame], scratch: Path) -> tuple[list[Any], Any]:
    """The input tables and Splink's database API for *engine*; Spark's checkpoints go to
    *scratch* (a private temporary folder, removed after the link)."""
    if engine == "spark":
        try:
            from pyspark.sql import SparkSession
            from splink.backends.spark import SparkAPI, similarity_jar_location
        except ImportError:
            raise ConfigError("engine: spark needs pyspark, which is not installed",
                              "install the spark extra (`pip install 'expedition[spark]'`, with Java 17 "
                              "or newer), or use engine: duckdb") from None
        import os

        spark = SparkSession.getActiveSession()
        if spark is None:  # a session the user made (a cluster's) is used as it is
            # Splink's Jaro-Winkler and other similarity functions come as a jar it ships
            spark = (SparkSession.builder.master("local[*]").appName("expedition-link")
                     .config("spark.sql.session.timeZone", "UTC")
                     .config("spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 2)))
                     .config("spark.jars", similarity_jar_location())
                     .config("spark.ui.enabled", "false").getOrCreate())
        spark.sparkContext.setCheckpointDir(str(scratch / "checkpoints"))
        # Splink needs Spark's own types: dates as DateType (not text), text as StringType
        return [spark.createDataFrame(p.to_pandas()) for p in prepared], SparkAPI(spark_session=spark)
    from splink import DuckDBAPI

    return [p.to_pandas() for p in prepared], DuckDBAPI()


def _frame(splink_frame: Any, engine: str) -> pl.DataFrame:
    import polars as pl

    if engine == "spark":
        return pl.from_pandas(splink_frame.as_spark_dataframe().toPandas())
    return splink_frame.as_duckdbpyrelation().pl()


def _split(uid: pl.Expr, names: list[str]) -> tuple[pl.Expr, pl.Expr]:
    import polars as pl

    index = uid.str.split_exact("|", 1).struct.field("field_0").cast(pl.Int64)
    record = uid.str.splitn("|", 2).struct.field("field_1")
    dataset = index.replace_strict(list(range(len(names))), names, return_dtype=pl.Utf8)
    return dataset, record


def _records(clustered: pl.DataFrame, pairs: pl.DataFrame, names: list[str], heights: list[int],
             prepared: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per record: dataset, record_id, person_id (P000001, ... numbered by each
    cluster's first record), match_probability of its best link."""
    import polars as pl

    every = pl.concat([p.select("unique_id") for p in prepared])
    best = pl.concat([pairs.select(pl.col("unique_id_l").alias("unique_id"), "match_probability"),
                      pairs.select(pl.col("unique_id_r").alias("unique_id"), "match_probability")]) \
        .group_by("unique_id").agg(pl.col("match_probability").max())
    frame = every.join(clustered, on="unique_id", how="left").join(best, on="unique_id", how="left")
    dataset, record = _split(pl.col("unique_id"), names)
    frame = frame.with_columns(dataset.alias("dataset"), record.alias("record_id"),
                               pl.col("unique_id").str.split_exact("|", 1).struct.field("field_0")
                               .cast(pl.Int64).alias("_order"),
                               pl.col("cluster_id").fill_null(pl.col("unique_id")))
    frame = frame.sort("_order", "record_id")
    first = frame.with_row_index("_row").group_by("cluster_id").agg(pl.col("_row").min()).sort("_row") \
        .with_row_index("_n", offset=1)
    frame = frame.join(first.select("cluster_id", "_n"), on="cluster_id", how="left")
    return frame.select(
        "dataset", "record_id",
        pl.format("P{}", pl.col("_n").cast(pl.Utf8).str.zfill(6)).alias("person_id"),
        pl.col("match_probability").round(6),
    )


def _pairs_out(pairs: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    import polars as pl

    dl, rl = _split(pl.col("unique_id_l"), names)
    dr, rr = _split(pl.col("unique_id_r"), names)
    return pairs.select(dl.alias("dataset_l"), rl.alias("record_id_l"), dr.alias("dataset_r"),
                        rr.alias("record_id_r"), pl.col("match_weight").round(4),
                        pl.col("match_probability").round(6)) \
        .sort("dataset_l", "record_id_l", "dataset_r", "record_id_r")


def _quality(records: pl.DataFrame, pairs: pl.DataFrame, model: dict[str, Any], compare: dict[str, str],
             safe: dict[str, str], threshold: float, rules: list[list[str]], notes: list[str],
             link_type: str, engine: str) -> dict[str, Any]:
    """The linkage-quality summary: counts, the weight distribution, the parameters, the
    precision and recall the model expects. No record's values."""
    import polars as pl

    sizes = records.group_by("person_id").agg(pl.len().alias("n"), pl.col("dataset").n_unique().alias("k"))
    size_counts = sizes.group_by(pl.col("n").clip(1, 4)).agg(pl.len()).sort("n")
    per_dataset = records.group_by("dataset", maintain_order=True).agg(pl.len())
    p = pairs["match_probability"]
    above = p.filter(p >= threshold)
    expected_tp = float(above.sum())
    expected_all = float(p.sum())
    weights = pairs["match_weight"].clip(WEIGHT_BINS[0], WEIGHT_BINS[-1] - 1e-9)
    edges = WEIGHT_BINS
    histogram = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        n = int(((weights >= lo) & (weights < hi)).sum())
        label = f"below {hi}" if lo == edges[0] else f"{lo} or more" if hi == edges[-1] else f"{lo} to {hi}"
        histogram.append({"weight": label, "pairs": n, "above_threshold": bool(
            lo >= _weight(threshold))})
    parameters = []
    back = {v: k for k, v in safe.items()}
    for comparison in model.get("comparisons", []):
        column = back.get(comparison.get("output_column_name"), comparison.get("output_column_name"))
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            parameters.append({
                "comparison": column, "kind": compare.get(column, ""),
                "level": _level_label(level.get("label_for_charts", ""), back),
                "m": None if m is None else round(float(m), 6), "u": None if u is None else round(float(u), 8),
                "match_weight": None if not m or not u else round(math.log2(float(m) / float(u)), 3),
            })
    return {
        "link_type": link_type, "engine": engine, "threshold": threshold,
        "records": records.height,
        "records_by_dataset": {r["dataset"]: r["len"] for r in per_dataset.to_dicts()},
        "clusters": sizes.height,
        "clusters_by_size": {("4 or more" if r["n"] >= 4 else str(r["n"])): r["len"] for r in size_counts.to_dicts()},
        "clusters_across_datasets": int((sizes["k"] > 1).sum()),
        "records_linked": int(sizes.filter(pl.col("n") > 1)["n"].sum() or 0),
        "pairs_scored": pairs.height, "pairs_linked": above.len(),
        "prior": model.get("probability_two_random_records_match"),
        "expected_precision": round(expected_tp / above.len(), 4) if above.len() else None,
        "expected_recall": round(expected_tp / expected_all, 4) if expected_all else None,
        "weight_distribution": histogram, "parameters": parameters,
        "blocking": rules, "notes": notes,
    }


def _weight(probability: float) -> float:
    return math.log2(probability / (1 - probability))


def _level_label(label: str, back: dict[str, str]) -> str:
    for safe, column in back.items():
        label = re.sub(rf"\b{re.escape(safe)}\b", column, label)
    return label


def _bias(records: pl.DataFrame, frames: dict[str, pl.DataFrame], ids: dict[str, str],
          protected: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Records and records left unlinked, by each protected characteristic's values."""
    import polars as pl

    sizes = records.group_by("person_id").agg(pl.len().alias("n"))
    state = records.join(sizes, on="person_id").select("dataset", "record_id", (pl.col("n") == 1).alias("unlinked"))
    columns = sorted({c for cs in protected.values() for c in cs})
    out = []
    for column in columns:
        parts = []
        for dataset, frame in frames.items():
            if column in protected.get(dataset, []):
                parts.append(frame.select(pl.lit(dataset).alias("dataset"),
                                          pl.col(ids[dataset]).cast(pl.Utf8).alias("record_id"),
                                          pl.col(column).cast(pl.Utf8).fill_null("Not recorded").alias("value")))
        if not parts:
            continue
        joined = pl.concat(parts).join(state, on=["dataset", "record_id"])
        table = joined.group_by("value").agg(pl.len().alias("records"), pl.col("unlinked").sum().alias("unlinked")) \
            .sort("value")
        out.append({"characteristic": column, "groups": table.to_dicts()})
    return out


# --------------------------------------------------------------------------- what steps read


def open_linked(project: Project, name: str) -> ValidatedData:
    """A linked dataset as steps and derived SQL read it (linked first if it is not current):
    frame, contract (record_id and person_id identifiers) and fingerprint with its lineage."""
    import polars as pl

    from expedition.contract import ColumnSpec, Contract
    from expedition.validation import ValidatedData

    linked = ensure_linked(project, name)
    contract = Contract(columns={
        "dataset": ColumnSpec("dataset", "string", nullable=False),
        "record_id": ColumnSpec("record_id", "string", nullable=False, role="identifier"),
        "person_id": ColumnSpec("person_id", "string", nullable=False, role="identifier"),
        "match_probability": ColumnSpec("match_probability", "float64", nullable=True),
    }, dataset=name, strict=False)
    from expedition.prepare import _raw_hashes

    raw = _raw_hashes(linked.inputs)
    fingerprint = {
        "dataset": name,
        "data_sha256": hashlib.sha256("\n".join(raw).encode()).hexdigest(),
        "data_file": f"linked from {', '.join(i['name'] for i in linked.inputs)}",
        "derived": {"sql": f"-- expedition link {name}: " + json.dumps(linked.settings, default=str),
                    "sql_sha256": linked.key, "inputs": linked.inputs},
        "link": {"name": name, "key": linked.key, "quality_sha256": hashlib.sha256(
            json.dumps(linked.quality, sort_keys=True, default=str).encode()).hexdigest()},
        "contract": None, "contract_sha256": None,
        "validated_file": linked.file, "validated_sha256": linked.sha256,
        "validation": {"read": linked.rows, "valid": linked.rows, "quarantined": 0},
    }
    return ValidatedData(pl.scan_parquet(project.root / linked.file), contract, fingerprint)


def quality(project: Project, name: str) -> dict[str, Any]:
    """The linkage-quality summary of a link (linked first if it is not current)."""
    return dict(ensure_linked(project, name).quality)


def check_inputs(project: Project, name: str) -> None:
    """A StepError saying what to run, unless every validated dataset a link reads is current."""
    from expedition.validation import require_validated

    for dataset in _config(project, name).datasets:
        if dataset in project.config.datasets:
            require_validated(project, dataset, reader=f"link {name!r}")


# --------------------------------------------------------------------------- clerical review


@dataclass(frozen=True)
class ReviewResult:
    """A clerical review: the file written for labelling, or the precision the labels measure."""

    name: str
    file: str
    written: int = 0
    labelled: int = 0
    matches: int = 0
    precision: float | None = None
    interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "written": self.written, "labelled": self.labelled,
                "matches": self.matches, "precision": self.precision,
                "interval": list(self.interval) if self.interval else None}


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95%) of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def review(project: Project, name: str, *, pairs: int = REVIEW_PAIRS, new: bool = False) -> ReviewResult:
    """Clerical review of a link. The first time (or with *new*), writes a sample of linked pairs,
    most of them near the threshold, to ``.expedition/links/NAME-review.csv`` with both records'
    compared values and an empty ``match`` column for a person to fill in (y or n). Once
    labelled, reads the labels back and records the measured precision, with a 95% Wilson
    interval, in the linkage-quality summary."""
    import polars as pl

    from expedition._io import atomic_write_text

    linked = ensure_linked(project, name)
    path = review_path(project, name)
    if path.exists() and not new:
        labels = pl.read_csv(path, infer_schema=False)
        if "match" not in labels.columns or "pair" not in labels.columns:
            raise DataError(f"{project.relative(path)} has no 'pair' and 'match' columns",
                            f"write it again with `expedition link review {name} --new`", path=path)
        answered = labels.filter(pl.col("match").is_not_null()).select(
            "pair", pl.col("match").str.strip_chars().str.to_lowercase())
        bad = answered.filter(~pl.col("match").is_in(["y", "n", "yes", "no", "1", "0"]))
        if bad.height:
            raise DataError(f"{bad.height} label(s) in {project.relative(path)} are not y or n",
                            "write y (the same person) or n (different people) in 'match', or leave it empty",
                            path=path)
        n = answered.height
        if n == 0:
            return ReviewResult(name, project.relative(path))
        yes = int(answered["match"].is_in(["y", "yes", "1"]).sum())
        result = ReviewResult(name, project.relative(path), labelled=n, matches=yes,
                              precision=round(yes / n, 4), interval=wilson(yes, n))
        _save_review(project, name, linked, result)
        return result
    sample = _review_sample(project, name, linked, pairs)
    atomic_write_text(path, sample.write_csv())
    return ReviewResult(name, project.relative(path), written=sample.height)


def _review_sample(project: Project, name: str, linked: Linked, size: int) -> pl.DataFrame:
    """Linked pairs for review: half nearest the threshold above it, the rest drawn at random
    from all linked pairs (seeded), with both records' compared values."""
    import polars as pl

    threshold = linked.settings["threshold"]
    pairs = pl.read_parquet(pairs_path(project, name)).filter(pl.col("match_probability") >= threshold)
    near = pairs.sort("match_probability").head(size // 2)
    rest = pairs.join(near, on=["dataset_l", "record_id_l", "dataset_r", "record_id_r"], how="anti")
    if rest.height:
        rest = rest.sample(min(rest.height, size - near.height), seed=project.config.seed)
    chosen = pl.concat([near, rest]).sort("match_probability").with_row_index("pair", offset=1)
    sources = {s.name: s for s in _sources(project, name)}
    compare = list(linked.settings["compare"])
    values = pl.concat([
        sources[d].frame.select(pl.lit(d).alias("dataset"), pl.col(sources[d].id).cast(pl.Utf8).alias("record_id"),
                                *[pl.col(c).cast(pl.Utf8) for c in compare]).collect()
        for d in sources])
    left = values.rename({c: f"{c}_l" for c in values.columns})
    right = values.rename({c: f"{c}_r" for c in values.columns})
    out = chosen.join(left, on=["dataset_l", "record_id_l"], how="left").join(right, on=["dataset_r", "record_id_r"], how="left")
    ordered = ["pair", "match_probability", "dataset_l", "record_id_l", "dataset_r", "record_id_r"]
    for c in compare:
        ordered += [f"{c}_l", f"{c}_r"]
    return out.sort("pair").select(ordered).with_columns(pl.lit(None, dtype=pl.Utf8).alias("match"))


def _save_review(project: Project, name: str, linked: Linked, result: ReviewResult) -> None:
    from expedition._io import atomic_write_text

    record = _read_record(project, name) or linked.to_dict()
    record.setdefault("quality", {})["review"] = {
        "key": linked.key, "labelled": result.labelled, "matches": result.matches,
        "precision": result.precision, "interval": list(result.interval or ())}
    from expedition._lock import project_lock

    with project_lock(project.root, "link review"):
        atomic_write_text(record_path(project, name), json.dumps(record, indent=2, default=str) + "\n")
