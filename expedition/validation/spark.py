"""The Spark engine: the same contract, the same outcome as the Polars engine, on Spark.

``validate(data, contract)`` mirrors `expedition.validation.engine.validate`: the same rows read,
valid and quarantined, the same failure count for every check, the same reasons for every
quarantined row and the same `ValidationReport`. It reads a CSV or TSV delivery from a local path
or any URI Spark reads (``s3a://``, ``abfss://``, ``dbfs:/``), every value as text, and compiles
the contract to PySpark DataFrame expressions only (no RDDs, no Python UDFs, so it also runs on
Spark Connect):

* **row numbers**: ``monotonically_increasing_id`` is no row number (it has gaps, and several
  files come in size order). Each row keeps the file and block it was read from (the
  ``_metadata`` column); counting the rows of each block and adding up the blocks before it
  gives every row its exact number in its file (1 = the first data row).
* **types**: Spark 4 casts strictly and parses text differently from Polars (``" 42"``, ``"+5"``,
  ``"2024-1-5"``, ``"1e3"``, ``"inf"``), so each value is first checked against a regular
  expression of exactly what Polars accepts, and only then converted (``try_cast``, and dates
  built from their parts with ``try_make_timestamp_ntz``, which refuses 30 February).
* **checks**: each check kind compiles itself (`expedition.contract.checks`, ``Kind.spark``);
  patterns are translated so Java reads them as Rust does (`java_regex`); rules run as Spark
  SQL (``F.expr``); a unique column or key is checked by counting its values (an aggregation
  of the key columns), and the few repeated ones are broadcast back to the rows.

The flagged rows are persisted once: the counts, the examples and both outputs read them. In a
project, `SparkRows.write_parquet` writes one Parquet file typed exactly as the Polars engine
types it (Spark writes one part, which Polars re-types and moves into place); to a URI it
writes a Parquet folder.

What differs, and says so: Spark's CSV reader skips blank lines, so a delivery with blank lines
reads fewer rows than `data add` counted (the report's row-count check fails and says so);
date-time columns need a format in the contract; deliveries other than CSV and TSV are refused.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.errors import ConfigError, DataError
from expedition.contract import (
    FLOAT,
    INTEGER,
    RESERVED,
    Contract,
)
from expedition.vocabulary import DEFAULT_FORMATS, FALSE_WORDS, TRUE_WORDS
from expedition.validation import words
from expedition.validation.words import Check
from expedition.validation.engine import _as_contract, _show_value, match_columns
from expedition.validation.report import (
    EXAMPLES,
    CheckOutcome,
    ValidationReport,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from expedition.reading import ReadOptions

ROW, REASONS = RESERVED
INSTALL = ('the Spark engine needs PySpark and Java 17 or newer: pip install "expedition[spark]" '
           "and install a Java runtime (e.g. apt-get install openjdk-17-jre-headless)")

#: Repeated values of a unique column or key up to this many are sent to every task (a
#: broadcast join); more are joined by a shuffle.
BROADCAST_KEYS = 1_000_000
#: A URI Spark reads (anything with a scheme other than a Windows drive letter).
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:/")
_NULL_SENTINEL = "\u0000expedition-no-null-token\u0000"


def require_pyspark() -> None:
    """A ConfigError saying how to install the Spark engine, unless PySpark imports."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError("the Spark engine is not installed", INSTALL) from None


def session() -> SparkSession:
    """The active SparkSession, or a local one (all cores, no UI, 2 GB driver) when there is
    none (on a cluster, `spark-submit` and Databricks provide one)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    try:
        spark = (
            SparkSession.builder.master("local[*]").appName("expedition")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", "2g")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
    except Exception as exc:  # noqa: BLE001 - no Java, or a Java too old: py4j raises several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"Spark could not start ({first[:200]})", INSTALL) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _name(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


# --------------------------------------------------------------------------- types from text


_INT = r"^[+-]?[0-9]+$"
_FLOAT = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_INF = r"^(?i)([+-]?)(?:inf|infinity)$"
_NAN = r"^(?i)[+-]?nan$"
#: Spark's type for each whole-number type (unsigned ones in the next wider signed type) and
#: the range Polars accepts.
_INT_TYPES = {
    "int8": ("tinyint", None), "int16": ("smallint", None), "int32": ("int", None),
    "int64": ("bigint", None), "uint8": ("smallint", 255), "uint16": ("int", 65_535),
    "uint32": ("bigint", 4_294_967_295), "uint64": ("decimal(20,0)", 18_446_744_073_709_551_615),
}
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")


#: Rust's white space (``char::is_whitespace``, what Polars' ``strip_chars`` removes).
_WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _strip(col: Column) -> Column:
    from pyspark.sql import functions as F

    return F.btrim(col, F.lit(_WHITE_SPACE))


@dataclass(frozen=True)
class _Layout:
    """A strftime layout as a regular expression of exactly what Polars accepts, with the
    group number of each part."""

    regex: str
    parts: dict[str, int]


def _layout(fmt: str, column: str) -> _Layout:
    """*fmt* (``%d/%m/%Y``) as the regular expression of what Polars parses with it."""
    parts: dict[str, int] = {}
    out = ["^"]
    i = 0
    has_day = "%d" in fmt or "%e" in fmt

    def group(part: str, regex: str) -> None:
        parts[part] = len(parts) + 1
        out.append(f"({regex})")

    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code == "." and fmt[i + 1:i + 3] == ".f":
                group("fraction", r"(?:\.[0-9]+)?")
                i += 3
                continue
            if code == "Y":
                group("year", r"[+]?[0-9]{1,4}")
            elif code == "y":
                group("year2", r"[0-9]{1,2}")
            elif code == "m":
                group("month", r"[0-9]{1,2}" if has_day else r"[0-9]{2}")
            elif code in "de":
                group("day", r"[0-9]{1,2}")
            elif code in "Bb":
                names = "|".join(sorted({m for m in _MONTHS} | {m[:3] for m in _MONTHS}, key=len,
                                        reverse=True))
                group("month_name", f"(?i:{names})")
            elif code == "H":
                group("hour", r"[0-9]{1,2}")
            elif code == "M":
                group("minute", r"[0-9]{1,2}")
            elif code == "S":
                group("second", r"[0-9]{1,2}")
            elif code == "z":
                group("offset", r"[+-][0-9]{2}:?[0-9]{2}")
            elif code == "%":
                out.append("%")
            else:
                raise ConfigError(
                    f"the Spark engine cannot read the format {fmt!r} of column '{column}' "
                    f"(%{code} is not one it knows)",
                    "use %Y %m %d %y %B %b %H %M %S %.f %z in the format, or validate with "
                    "--engine polars")
            i += 2
            continue
        if ch.isspace():
            out.append(r"\s*")  # as Polars (chrono): white space matches any, or none
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return _Layout("".join(out), parts)


_SEP = "\u0001"


def _matched(value: Column, layout: _Layout) -> Column:
    """*value* with its parts separated (one pass of the regular expression), or null where it
    does not have the layout."""
    from pyspark.sql import functions as F

    joined = _SEP + _SEP.join(f"${i}" for i in range(1, len(layout.parts) + 1))
    parts = F.regexp_replace(value, layout.regex, joined)
    return F.when(parts.startswith(_SEP), parts)


def _parsed_parts(pieces: Column, layout: _Layout) -> dict[str, Column]:
    from pyspark.sql import functions as F

    def part(name: str) -> Column:
        return pieces.getItem(layout.parts[name])

    got: dict[str, Column] = {}
    if "year" in layout.parts:
        got["year"] = F.regexp_replace(part("year"), r"^\+", "").cast("int")
    elif "year2" in layout.parts:
        got["year"] = part("year2").cast("int") + 2000  # as Polars: 00-99 are 2000-2099
    if "month" in layout.parts:
        got["month"] = part("month").cast("int")
    elif "month_name" in layout.parts:
        name = F.lower(F.substring(part("month_name"), 1, 3))
        got["month"] = F.array_position(F.array(*[F.lit(m[:3]) for m in _MONTHS]), name).cast("int")
    got["day"] = part("day").cast("int") if "day" in layout.parts else F.lit(1)
    for p in ("hour", "minute", "second"):
        got[p] = part(p).cast("int") if p in layout.parts else F.lit(0)
    if "fraction" in layout.parts:
        digits = F.substring(F.regexp_replace(part("fraction"), r"^\.", ""), 1, 6)
        got["micros"] = F.when(digits == "", F.lit(0)).otherwise(F.rpad(digits, 6, "0").cast("int"))
    else:
        got["micros"] = F.lit(0)
    if "offset" in layout.parts:
        off = F.regexp_replace(part("offset"), ":", "")
        sign = F.when(F.substring(off, 1, 1) == "-", -1).otherwise(1)
        got["offset_seconds"] = sign * (F.substring(off, 2, 2).cast("int") * 3600
                                        + F.substring(off, 4, 2).cast("int") * 60)
    return got


def _stamp(p: dict[str, Column], seconds: Column) -> Column:
    from pyspark.sql import functions as F

    return F.try_make_timestamp_ntz(
        p["year"], p["month"], p["day"], p["hour"], p["minute"],
        (seconds + p["micros"] / F.lit(1_000_000)).cast("decimal(16,6)"),
    )


def parse_column(value: Column, dtype: str, fmt: str | None, column: str) -> Column:
    """Text read as *dtype* exactly as `expedition.contract.types.parse_expr` reads it with
    surrounding spaces ignored; a value that does not parse becomes null.

    Types in Spark: whole numbers in the Spark type of the same width (unsigned ones one wider,
    ``uint64`` as ``decimal(20,0)``), ``date``, ``timestamp_ntz``, times as ``HH:MM:SS.ffffff``
    text (ordered as times are), categorical as text; `SparkRows` writes them as Polars types.
    (The engine adds the steps of `_parse_steps` as columns one after another, so that Spark
    evaluates each once; this composes them into one expression.)
    """
    return _parse_steps(value, dtype, fmt, column, "", inline=True)[1]


def _parse_steps(value: Column, dtype: str, fmt: str | None, column: str, tag: str, *,
                 inline: bool = False) -> tuple[list[tuple[str, Column]], Column]:
    """([(name, expression)] intermediate columns, each reading *value* or an earlier one; the
    typed value, reading the last): text read as *dtype*, as `parse_column` says."""
    from pyspark.sql import functions as F

    if dtype in ("string", "categorical"):
        return [], value
    stripped = f"__v{tag}"
    steps = [(stripped, _strip(value))]
    v = steps[-1][1] if inline else F.col(stripped)
    if dtype in INTEGER:
        spark_type, top = _INT_TYPES[dtype]
        cast = F.when(v.rlike(_INT), v.try_cast(spark_type if top is None else "decimal(20,0)"))
        if top is not None:
            cast = F.when((cast >= 0) & (cast <= F.lit(str(top)).cast("decimal(20,0)")),
                          cast).cast(spark_type)
        return steps, cast
    if dtype in FLOAT:
        spark_type = "float" if dtype == "float32" else "double"
        sign = F.regexp_extract(v, _INF, 1)
        return steps, (
            F.when(v.rlike(_FLOAT), v.try_cast(spark_type))
            .when(v.rlike(_INF), F.when(sign == "-", F.lit(float("-inf")))
                  .otherwise(F.lit(float("inf"))).cast(spark_type))
            .when(v.rlike(_NAN), F.lit(float("nan")).cast(spark_type))
        )
    if dtype == "boolean":
        lower = F.lower(v)
        return steps, (F.when(lower.isin(list(TRUE_WORDS)), F.lit(True))
                       .when(lower.isin(list(FALSE_WORDS)), F.lit(False)))
    if dtype == "datetime" and not fmt:
        raise ConfigError(
            f"the Spark engine needs the format of the date-time column '{column}'",
            f"add a format to '{column}' in the contract (e.g. format: '%Y-%m-%d %H:%M:%S'), "
            "or validate with --engine polars")
    layout = _layout(fmt or DEFAULT_FORMATS.get(dtype, ""), column)
    pieces = f"__p{tag}"
    steps.append((pieces, F.split(_matched(v, layout), _SEP)))
    p = _parsed_parts(steps[-1][1] if inline else F.col(pieces), layout)
    if dtype == "date":
        return steps, _stamp(p, p["second"]).cast("date")
    if dtype == "datetime":
        # as Polars (chrono): second 60 is a leap second, read as the next minute's first
        leap = p["second"] == 60
        stamp = _stamp(p, F.when(leap, F.lit(59)).otherwise(p["second"]))
        stamp = stamp + F.when(leap, F.expr("INTERVAL 1 SECOND")).otherwise(F.expr("INTERVAL 0 SECOND"))
        if "offset_seconds" in p:  # times with an offset are stored as UTC
            stamp = stamp - F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), p["offset_seconds"])
        return steps, F.when((p["hour"] < 24) & (p["minute"] < 60), stamp)
    if dtype == "time":
        ok = (p["hour"] < 24) & (p["minute"] < 60) & (p["second"] < 60)
        return steps, F.when(ok, F.format_string("%02d:%02d:%02d.%06d", p["hour"], p["minute"],
                                                 p["second"], p["micros"]))
    raise AssertionError(dtype)  # pragma: no cover


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Source:
    """How Spark reads the delivery."""

    location: str  # what spark.read.csv is given
    columns: tuple[str, ...] | None
    delimiter: str
    quoting: bool
    local: Path | None


def _source(data: str | Path, options: ReadOptions | None) -> _Source:
    text = str(data)
    if _URI.match(text) and not text.startswith("file:"):
        fmt = text.rsplit(".", 1)[-1].lower() if "." in text.rsplit("/", 1)[-1] else "csv"
        if fmt not in ("csv", "tsv", "txt"):
            raise DataError(f"the Spark engine reads CSV and TSV deliveries, not {fmt!r}",
                            "export the delivery as CSV, or validate it with --engine polars")
        delimiter = (options.delimiter if options and options.delimiter else
                     "\t" if fmt == "tsv" else ",")
        quoting = options.quoting if options and options.quoting is not None else True
        return _Source(text, options.columns if options else None, delimiter, quoting, None)
    from expedition.reading import check_readable, detect, utf8_source

    path = Path(text.removeprefix("file://").removeprefix("file:"))
    check_readable(path)
    if options is None or not options.detected:
        options = detect(path, encoding=options.encoding if options else None,
                         quoting=options.quoting if options else None).options
    if not options.text:
        raise DataError(f"the Spark engine reads CSV and TSV deliveries, not {options.format}",
                        "validate this delivery with --engine polars (the default)", path=path)
    source = utf8_source(path, options)  # a UTF-8 copy with LF line endings when needed
    assert options.delimiter is not None and options.columns is not None
    return _Source(str(Path(source).resolve()), tuple(options.columns), options.delimiter,
                   bool(options.quoting), path)


def _read(spark: SparkSession, src: _Source, multiline: bool) -> tuple[DataFrame, list[str]]:
    """Every value as text (quoted empty values as "", unquoted empty ones as null, as
    Polars reads them), the record of a row with the wrong number of fields, and its number."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    reader = spark.read.options(
        header=True, sep=src.delimiter, quote='"' if src.quoting else "\u0000", escape='"',
        nullValue=_NULL_SENTINEL, emptyValue="", mode="PERMISSIVE", multiLine=multiline,
        columnNameOfCorruptRecord="__record", ignoreLeadingWhiteSpace=False,
        ignoreTrailingWhiteSpace=False, maxCharsPerColumn=-1, maxColumns=1_000_000,
        encoding="UTF-8", inferSchema=False, enforceSchema=True,
    )
    columns = list(src.columns) if src.columns else spark.read.options(
        header=True, sep=src.delimiter, quote='"' if src.quoting else "\u0000", escape='"',
        inferSchema=False).csv(src.location).columns
    internal = [f"__in{i}" for i in range(len(columns))]
    schema = StructType([StructField(c, StringType()) for c in internal]
                        + [StructField("__record", StringType())])
    frame = reader.schema(schema).csv(src.location).select(
        *internal, "__record",
        F.col("_metadata.file_path").alias("__file"),
        F.col("_metadata.file_block_start").alias("__block"),
        F.monotonically_increasing_id().alias("__id"),
    )
    # the ids of one block are consecutive (one task reads a block, in order), but they have
    # gaps between tasks: count each block's rows and add up the blocks before it
    blocks = frame.groupBy("__file", "__block").agg(
        F.count(F.lit(1)).alias("__n"), F.min("__id").alias("__first"))
    before = Window.partitionBy("__file").orderBy("__block").rowsBetween(
        Window.unboundedPreceding, -1)
    blocks = blocks.withColumn("__offset", F.coalesce(F.sum("__n").over(before), F.lit(0)))
    numbered = frame.join(F.broadcast(blocks.drop("__n")), ["__file", "__block"]).select(
        (F.col("__offset") + F.col("__id") - F.col("__first") + 1).cast("long").alias("__row"),
        *[F.col(i).alias(c) for i, c in zip(internal, columns)],
        "__record",
    )
    return numbered, columns


def _fields(record: Column, delimiter: str, quoting: bool) -> Column:
    """How many fields a record (a row Spark found malformed) has; a blank record has 0."""
    from pyspark.sql import functions as F

    text = F.regexp_replace(record, r'"(?:[^"]|"")*"', "") if quoting else record
    count = F.size(F.split(text, re.escape(delimiter), -1))
    return F.when(record == "", F.lit(0)).otherwise(count)


# --------------------------------------------------------------------------- validation


@dataclass
class SparkRows:
    """Valid or quarantined rows as a (persisted) Spark DataFrame, with how to write them."""

    frame: DataFrame
    height: int
    #: contract column -> dtype, for the Polars types of the Parquet file written
    dtypes: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def to_polars(self):
        """The rows as a Polars DataFrame, typed as the Polars engine types them (collects
        them into this process: for tests and small deliveries)."""
        import polars as pl

        with tempfile.TemporaryDirectory(prefix="expedition-spark-") as tmp:
            target = Path(tmp) / "rows.parquet"
            self.write_parquet(target)
            return pl.read_parquet(target)

    def write_parquet(self, path: str | Path, *, compression: str = "lz4", statistics: bool = False,
                      **_: Any) -> None:
        """One Parquet file at a local *path* (typed as the Polars engine writes it), or a
        Parquet folder at a URI."""
        text = str(path)
        if _URI.match(text) and not text.startswith("file:"):
            self.frame.write.mode("overwrite").parquet(text)
            return
        import polars as pl

        path = Path(text.removeprefix("file://").removeprefix("file:"))
        parts = Path(tempfile.mkdtemp(prefix=".spark-", dir=path.parent))
        try:
            self.frame.coalesce(1).write.mode("overwrite").parquet(str(parts.resolve()))
            files = sorted(parts.glob("part-*.parquet"))
            frame = pl.scan_parquet(files) if files else None
            if frame is None:  # no rows: Spark may write no part
                frame = pl.DataFrame(schema={c: pl.String for c in self.frame.columns}).lazy()
            frame.select(self._polars_types(frame.collect_schema())).sink_parquet(
                path, compression=compression, statistics=statistics)
        finally:
            shutil.rmtree(parts, ignore_errors=True)

    def _polars_types(self, schema: Any) -> list[Any]:
        import polars as pl

        from expedition.contract.types import polars_dtype

        out = []
        for name in schema.names():
            col = pl.col(name)
            dtype = self.dtypes.get(name)
            if name == ROW:
                out.append(col.cast(pl.Int64))
            elif name == REASONS:
                out.append(col.cast(pl.List(pl.String)))
            elif dtype is None:
                out.append(col.cast(pl.String))
            elif dtype == "time":
                out.append(col.str.to_time("%H:%M:%S%.f").alias(name))
            else:
                out.append(col.cast(polars_dtype(dtype)))
        return out


@dataclass(frozen=True)
class SparkValidationResult:
    """What `validate` returns: the valid rows, the quarantined rows and the report, as the
    Polars engine's `ValidationResult` (the rows stay in Spark until written)."""

    valid: SparkRows
    quarantine: SparkRows
    report: ValidationReport

    def __iter__(self):
        return iter((self.valid, self.quarantine, self.report))

    def unpersist(self) -> None:
        self.valid.frame.unpersist()
        self.quarantine.frame.unpersist()


def validate(
    data: str | Path,
    contract: Contract | str | Path,
    *,
    allow_extra_columns: bool = False,
    max_invalid: float = 0.0,
    dataset: str | None = None,
    options: ReadOptions | None = None,
    expected_rows: int | None = None,
    spark: SparkSession | None = None,
    multiline: bool | None = None,
) -> SparkValidationResult:
    """Validate a CSV or TSV delivery (a local path, or a URI Spark reads) against a contract,
    on Spark, with the Polars engine's outcome (`expedition.validation.engine.validate`).

    *options* are those `data add` recorded (detected for a local file when not given).
    *multiline* reads quoted values that hold line breaks (each file is then read by one
    task); by default a file is read in blocks, and read again whole when the rows read differ
    from *expected_rows*.
    """
    started = time.perf_counter()
    require_pyspark()
    contract = _as_contract(contract)
    spark = spark or session()
    src = _source(data, options)
    tries = [bool(multiline)] if multiline is not None else [False, True]
    result = None
    for attempt in tries:
        if result is not None:
            result.unpersist()
        result = _validate_once(spark, src, contract, allow_extra_columns=allow_extra_columns,
                                max_invalid=max_invalid, dataset=dataset, started=started,
                                expected_rows=expected_rows, multiline=attempt)
        if expected_rows is None or result.report.rows_read == expected_rows or not src.quoting:
            break
    assert result is not None
    return result


def validate_delivery(project: Any, dataset: str, config: Any, contract: Contract,
                      valid_file: Path, quarantine_file: Path, *, max_invalid: float,
                      allow_extra_columns: bool) -> ValidationReport:
    """Validate a project dataset's latest delivery on Spark and write the valid and
    quarantined rows to *valid_file* and *quarantine_file* (what `validate_dataset` calls for
    ``--engine spark`` or ``engine: spark``); the raw file is hashed first, as ever."""
    from expedition.datasets import delivery_options, delivery_path

    require_pyspark()
    if config.combine == "all":
        raise ConfigError(
            f"dataset {dataset!r} combines every delivery (combine: all), which the Spark engine "
            "does not validate yet",
            f"validate it with --engine polars (or set engine: polars for {dataset!r})",
            path=project.config_path)
    delivery = config.latest
    raw = delivery_path(project, dataset, full_check=True)
    result = validate(raw, contract, allow_extra_columns=allow_extra_columns,
                      max_invalid=max_invalid, dataset=dataset, options=delivery_options(delivery),
                      expected_rows=delivery.rows)
    try:
        result.quarantine.write_parquet(quarantine_file)
        result.valid.write_parquet(valid_file)
    finally:
        result.unpersist()
    return result.report


def _validate_once(
    spark: SparkSession, src: _Source, contract: Contract, *, allow_extra_columns: bool,
    max_invalid: float, dataset: str | None, started: float, expected_rows: int | None,
    multiline: bool,
) -> SparkValidationResult:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    try:
        raw, data_columns = _read(spark, src, multiline)
    except Exception as exc:  # noqa: BLE001 - Spark raises its own analysis/IO exception types
        raise _unreadable(exc, src) from None
    width = len(data_columns)
    match = match_columns(data_columns, contract)
    keep_extra = allow_extra_columns or not contract.strict
    nulls = [v for v in contract.null_values if v != ""]

    select: list[Column] = [F.col("__row")]
    raw_cols: dict[str, str] = {}
    fields = F.when(F.col("__record").isNotNull(), _fields(F.col("__record"), src.delimiter,
                                                           src.quoting))
    # a record with more fields than the header is malformed to Spark, not short
    select.append(F.when(fields < width, fields).cast("int").alias("__fields"))
    checks: list[Check] = [Check(*words.fields(width), F.col("__fields").isNull(), ())]
    has_type_check: set[str] = set()
    #: the steps of reading text as each type, one select per step, so Spark evaluates each once
    levels: dict[int, list[tuple[str, Column]]] = {}
    typed_exprs: list[Column] = []
    for i, (name, col) in enumerate(contract.columns.items()):
        source_name = match.found.get(name)
        if source_name is None:
            typed_exprs.append(F.lit(None).cast(_spark_type(col.dtype)).alias(name))
            continue
        value = _name(source_name)
        if nulls:
            value = F.when(value.isin(nulls), F.lit(None).cast("string")).otherwise(value)
        internal = f"__raw{i}"
        raw_cols[name] = internal
        select.append(value.alias(internal))
        steps, final = _parse_steps(F.col(internal), col.dtype, col.format, name, str(i))
        for level, step in enumerate(steps):
            levels.setdefault(level, []).append(step)
        typed_exprs.append(final.alias(name))
        if col.dtype != "string":
            has_type_check.add(name)
    for j, extra in enumerate(match.extra):
        select.append(_name(extra).alias(f"__extra{j}"))
    extras = list(match.extra) if keep_extra else []

    # each unique column and key: its values found more than once (an aggregation, joined back)
    duplicates: list[list[str]] = []
    for name, col in contract.columns.items():
        c = _name(name)
        if name in match.missing:
            if col.required:
                checks.append(Check(*words.present(name), F.lit(False), ()))
            elif not col.nullable:
                checks.append(Check(*words.absent_not_null(name), F.lit(False), ()))
            continue
        raw_c = F.col(raw_cols[name])
        if name in has_type_check:
            checks.append(Check(*words.dtype(col), ~(raw_c.isNotNull() & c.isNull()), (name,)))
        if not col.nullable:
            present = raw_c.isNotNull()
            if col.dtype in FLOAT:
                present = present & F.coalesce(~F.isnan(c), F.lit(True))
            checks.append(Check(*words.not_null(name), present, ()))
        if col.unique:
            dup = F.coalesce(F.col(_duplicated(duplicates, [name])), F.lit(False)) & c.isNotNull()
            checks.append(Check(*words.unique(name), ~dup, (name,)))
        for check_id, check in zip(col.check_ids(), col.checks):
            checks.append(Check(*words.value(check_id, name, check),
                                 F.coalesce(check.spark_expr(c, col.dtype), F.lit(True)), (name,)))
    for key in contract.unique:
        if any(k in match.missing for k in key):
            continue
        cols = [_name(k) for k in key]
        present = cols[0].isNotNull()
        for k in cols[1:]:
            present = present & k.isNotNull()
        dup = F.coalesce(F.col(_duplicated(duplicates, list(key))), F.lit(False)) & present
        checks.append(Check(*words.unique_key(key), ~dup, tuple(key)))
    for rule in contract.rules:
        used = rule.columns
        if any(u in match.missing for u in used):
            continue
        try:
            expr = F.expr(rule.check)
        except Exception as exc:  # noqa: BLE001 - Spark's parse exception
            raise ConfigError(f"rule {rule.name!r}: Spark SQL cannot read {rule.check!r} "
                              f"({str(exc).strip().splitlines()[0][:200]})",
                              "write the rule in SQL both Polars and Spark read (comparisons, "
                              "AND, OR, NOT, IS NULL, arithmetic)", path=contract.path) from None
        checks.append(Check(*words.rule(rule), F.coalesce(expr, F.lit(True)), tuple(used)))

    typed = raw.select(select)
    for level in sorted(levels):
        typed = typed.select("*", *[expr.alias(n) for n, expr in levels[level]])
    helpers = [n for level in levels.values() for n, _ in level]
    typed = typed.select(*[c for c in typed.columns if c not in helpers], *typed_exprs)
    for k, key in enumerate(duplicates):
        # the repeated values first (a job reading the key columns only): none, no join; a few,
        # broadcast to every task, so the rows stay where they were read (no shuffle of them)
        repeated = (typed.groupBy(*[_name(c) for c in key]).count().filter(F.col("count") > 1)
                    .select(*[_name(c) for c in key], F.lit(True).alias(f"__dup{k}")))
        try:
            found = repeated.count()
        except Exception as exc:  # noqa: BLE001 - a file Spark cannot read fails here, lazily
            raise _unreadable(exc, src) from None
        if not found:
            typed = typed.withColumn(f"__dup{k}", F.lit(None).cast("boolean"))
        else:
            typed = typed.join(F.broadcast(repeated) if found <= BROADCAST_KEYS else repeated,
                               on=key, how="left")
    short = F.col("__fields").isNotNull()
    flags = []
    for k, check in enumerate(checks):
        expr = check.expr if check.kind == "fields" else (check.expr | short)
        flags.append(F.coalesce(expr, F.lit(True)).alias(f"__ok{k}"))
    ok_flags = [f"__ok{k}" for k in range(len(checks))]
    ok = F.lit(True)
    for f in ok_flags:
        ok = ok & F.col(f)
    typed = typed.select("*", *flags)
    reasons = F.filter(F.array(*[
        F.when(~F.col(f), _reason_expr(check, width)) for f, check in zip(ok_flags, checks)
    ]), lambda x: x.isNotNull())
    flagged = typed.withColumn("__ok", ok)
    try:
        flagged = flagged.persist(StorageLevel.MEMORY_AND_DISK)
        counts_row = flagged.agg(
            F.count(F.lit(1)).alias("__read"),
            *[F.sum(F.when(~F.col(f), 1).otherwise(0)).alias(f) for f in ok_flags],
            F.sum(F.when(F.col("__ok"), 1).otherwise(0)).alias("__valid"),
        ).collect()[0]
    except Exception as exc:  # noqa: BLE001 - a file Spark cannot read fails here, lazily
        flagged.unpersist()
        if "AnalysisException" in type(exc).__name__ or "ParseException" in type(exc).__name__:
            raise ConfigError(f"Spark could not run the contract: {str(exc).strip().splitlines()[0][:300]}",
                              "check the contract's rules are SQL Spark reads",
                              path=contract.path) from None
        raise _unreadable(exc, src) from None
    n_read = int(counts_row["__read"] or 0)
    n_valid = int(counts_row["__valid"] or 0)
    counts = [int(counts_row[f] or 0) for f in ok_flags]
    # the fields check is reported only when a row is short (as the Polars engine does)
    keep = [k for k, check in enumerate(checks) if check.kind != "fields" or counts[k]]

    dtypes = {name: col.dtype for name, col in contract.columns.items()}
    valid_frame = flagged.filter(F.col("__ok")).orderBy("__row").select(
        [_name(name) for name in contract.columns]
        + [F.col(f"__extra{j}").alias(extra) for j, extra in enumerate(match.extra) if extra in extras]
    )
    quarantine_frame = flagged.filter(~F.col("__ok")).orderBy("__row").select(
        [F.col("__row").cast("long").alias(ROW)]
        + [F.col(internal).alias(name) for name, internal in raw_cols.items()]
        + [F.col(f"__extra{j}").alias(extra) for j, extra in enumerate(match.extra)]
        + [reasons.alias(REASONS)]
    )
    masked = contract.masked()
    wanted = [(k, checks[k], ok_flags[k]) for k in keep if counts[k]]
    if n_read - n_valid <= LOCAL_EXAMPLES:
        found = _examples_here(flagged, wanted, raw_cols, masked)
    else:
        found = _examples(flagged, wanted, raw_cols, masked)
    outcomes = []
    for k in keep:
        check, failed = checks[k], counts[k]
        examples = found.get(k, [])
        outcomes.append(CheckOutcome(
            id=check.id, column=check.column, kind=check.kind, description=check.description,
            failure=check.failure, fix=check.fix, failed=failed,
            share=failed / n_read if n_read else 0.0, examples=examples,
        ))
    dataset_checks = words.dataset_checks(
        contract, n_read, expected_rows, match, keep_extra,
        recorded_fix="the delivery was read differently from when it was added (Spark's CSV "
                     "reader skips blank lines): validate it with --engine polars, or remove the "
                     "blank lines and add it again with `expedition data add`")
    report = ValidationReport(
        dataset=dataset or contract.dataset,
        rows_read=n_read,
        rows_valid=n_valid,
        rows_quarantined=n_read - n_valid,
        checks=outcomes,
        dataset_checks=dataset_checks,
        missing_columns=match.missing,
        extra_columns=match.extra,
        renamed_columns=match.renamed,
        order_differs=match.order_differs,
        extra_columns_kept=keep_extra and bool(match.extra),
        max_invalid=float(max_invalid),
        seconds=time.perf_counter() - started,
        masked_columns=sorted(masked),
        rows_expected=expected_rows,
    )
    return SparkValidationResult(
        SparkRows(valid_frame, n_valid, dtypes),
        SparkRows(quarantine_frame, n_read - n_valid, {}),
        report,
    )


def _duplicated(duplicates: list[list[str]], key: list[str]) -> str:
    """The column (added by a join) that is true where *key*'s value occurs more than once."""
    duplicates.append(key)
    return f"__dup{len(duplicates) - 1}"


def _spark_type(dtype: str) -> str:
    if dtype in INTEGER:
        return _INT_TYPES[dtype][0]
    return {"float32": "float", "float64": "double", "boolean": "boolean", "date": "date",
            "datetime": "timestamp_ntz"}.get(dtype, "string")


def _reason_expr(check: Check, width: int) -> Column:
    from pyspark.sql import functions as F

    if check.kind == "fields":
        fields = F.col("__fields")
        blank, one, many = words.short_row_reasons(width)
        return (F.when(fields == 0, F.lit(blank)).when(fields == 1, F.lit(one))
                .otherwise(F.format_string(many.replace("{}", "%d"), fields)))
    return F.lit(words.reason(check))


#: Up to this many quarantined rows, the examples are chosen here from the rows' values (one
#: small Spark job); beyond it, in Spark.
LOCAL_EXAMPLES = 200_000


def _examples_here(flagged: DataFrame, wanted: list[tuple[int, Check, str]],
                   raw_cols: dict[str, str], masked: frozenset[str]) -> dict[int, list[dict[str, Any]]]:
    """`_examples`, choosing among the quarantined rows' values in this process exactly as
    the Polars engine does (`expedition.validation.engine._examples`)."""
    import polars as pl
    from pyspark.sql import functions as F

    from expedition.validation.engine import _examples as polars_examples

    if not wanted:
        return {}
    needed = ["__row", "__fields", *raw_cols.values(), *[flag for _, _, flag in wanted]]
    bad = pl.from_arrow(flagged.filter(~F.col("__ok")).select(*needed).toArrow())
    bad = bad.sort("__row")
    found: dict[int, list[dict[str, Any]]] = {}
    for k, check, flag in wanted:
        if check.kind == "fields":
            rows = bad.filter(pl.col(flag).not_()).head(EXAMPLES)
            found[k] = [{"row": int(r), "line": int(r) + 1, "fields": int(f), "blank": int(f) == 0}
                        for r, f in zip(rows["__row"], rows["__fields"])]
        else:
            found[k] = polars_examples(bad.lazy(), flag, check, raw_cols, masked)  # type: ignore[arg-type]
    return found


def _examples(flagged: DataFrame, wanted: list[tuple[int, Check, str]],
              raw_cols: dict[str, str], masked: frozenset[str]) -> dict[int, list[dict[str, Any]]]:
    """Up to three failing rows of each check in *wanted*, one per distinct value (the first row
    of each, in row order), in one Spark job; masked columns show row numbers only; a short
    row shows its number of fields."""
    from functools import reduce

    from pyspark.sql import functions as F

    parts = []
    for k, check, flag in wanted:
        failing = flagged.filter(~F.col(flag))
        shown = [c for c in check.shows if c in raw_cols and c not in masked]
        if check.kind == "fields":
            part = failing.select("__row", F.array(F.col("__fields").cast("string")).alias("__vals"))
        elif shown:
            keys = [raw_cols[c] for c in shown]
            part = failing.groupBy(*keys).agg(F.min("__row").alias("__row")).select(
                "__row", F.array(*[F.col(c) for c in keys]).alias("__vals"))
        else:
            part = failing.select("__row", F.array().cast("array<string>").alias("__vals"))
        parts.append(part.orderBy("__row").limit(EXAMPLES).select(F.lit(k).alias("__k"), "__row",
                                                                  "__vals"))
    if not parts:
        return {}
    rows = reduce(lambda a, b: a.unionByName(b), parts).collect()
    by_check = {k: (check, [c for c in check.shows if c in raw_cols and c not in masked])
                for k, check, _ in wanted}
    found: dict[int, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["__k"], r["__row"])):
        check, shown = by_check[row["__k"]]
        n = int(row["__row"])
        if check.kind == "fields":
            fields = int(row["__vals"][0])
            # the line is the row's when no value holds a line break (Spark does not say)
            example: dict[str, Any] = {"row": n, "line": n + 1, "fields": fields,
                                       "blank": fields == 0}
        else:
            example = {"row": n}
            if len(check.shows) == 1 and shown:
                example["value"] = _show_value(row["__vals"][0])
            elif shown:
                example["values"] = {c: _show_value(v) for c, v in zip(shown, row["__vals"])}
        found.setdefault(row["__k"], []).append(example)
    return found


def _unreadable(exc: BaseException, src: _Source) -> DataError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(
        f"Spark could not read the delivery: {message[:300]}",
        "check that the file is complete and in the format its extension says, and that Spark "
        "can reach the location",
        path=src.local or src.location,
    )


__all__ = ["SparkRows", "SparkValidationResult", "parse_column", "require_pyspark", "session",
           "validate"]
