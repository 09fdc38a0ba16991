"""The Spark engine gives the Polars engine's outcome: one edge-case suite run on both engines.

Spark tests run where PySpark and Java 17+ are present and skip cleanly otherwise. They share one
local SparkSession (two cores, no UI, one shuffle partition, 1 GB driver) and one pytest-xdist
worker (``xdist_group("spark")`` with ``--dist loadgroup`` in pyproject's addopts), so the JVM
starts once per run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from expedition.contract import load_contract
from expedition.contract.checks import BadCheck, check_regex, java_regex

ENGINES = ["polars", pytest.param("spark", marks=pytest.mark.xdist_group("spark"))]


def _java_major() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for every Spark test of the run."""
    pytest.importorskip("pyspark")
    major = _java_major()
    if major is None or major < 17:
        pytest.skip("the Spark engine needs Java 17 or newer, which is not installed")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("expedition-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _run(engine: str, request, path: Path, contract, **kwargs):
    """(report as a dict without timing, quarantine and valid rows as Polars frames)."""
    if engine == "polars":
        from expedition.validation.engine import validate

        result = validate(path, contract, **kwargs)
        valid, quarantine = result.valid, result.quarantine
    else:
        request.getfixturevalue("spark")
        from expedition.validation.spark import validate

        result = validate(path, contract, **kwargs)
        valid, quarantine = result.valid.to_polars(), result.quarantine.to_polars()
        result.unpersist()
    report = result.report.to_dict()
    report.pop("seconds")
    return report, quarantine, valid


# --------------------------------------------------------------------------- the edge cases

EDGE_CSV = '''\
id,site,n8,u8,u64,big,ratio,f32,flag,day,uk_day,long_day,yy,stamp,zoned,clock,kind,code,note,score,opened,closed
1,A, 42 ,7,18446744073709551615,9223372036854775807,1.5,1.5,yes,2024-01-05,05/01/2024,5 January 2024,05/01/24,2024-01-05 12:00:00,2024-01-05T12:00:00.5+01:00,12:00:00,a,R1234567,hello world,10,2024-01-01,2024-01-02
2,A,+5,255,0,-9223372036854775808,1e3,1e39,NO,2024-1-5,5/1/2024,05 jan 2024,5/1/69,2024-01-05 1:2:3,2024-01-05T12:00:00-0130,1:2:3,b,R7654321,say hello,20,2024-01-03,2024-01-01
3,B,300,256,18446744073709551616,9223372036854775808,NaN,nan,maybe,2024-02-30,31/04/2024,5 Janvier 2024,05/01/2024,2024-01-05T12:00:00,2024-01-05T12:00:00Z,24:00:00,c,r1234567,,30,2024-01-01,
4,B,12a,-1,-1,007,inf,-inf,1,2024-01-05T00:00,05-01-2024,5January 2024,05/01/124,2024-01-05 23:59:60,2024-01-05T12:00:00.123456789+00:00,23:59:60,A,R123456,hello,0,,2024-01-01
5,C,1.0,0,5,1_000,-Infinity,1.,T,20240105,05/01/24,5  January 2024,05/01/7,2024-01-05 24:00:00,2024-01-05T12:00:00+01,12:00,"",R12345678,"NA",-5,2024-01-01,2024-01-01
5,C,-0,1,6,1,+5,.5,f,+2024-01-05,1/1/0099,31 February 2024,29/02/23,2024-13-05 12:00:00,bad,12:00:00.5,NA,R1111111,HELLO,101,2024-01-01,2024-01-01
7,C,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA,NA
8,A,  7,2,3,4,-0,5.,n,24-01-05,29/02/2024,29 Feb 2024,29/02/24,2024-01-05 00:00:00,2024-01-05T00:00:00+00:00,00:00:00,b,R2222222,xhello,50,2024-01-01,2024-01-01
8,A,1,2,3,4,1.e3,0.1f,Y,2024-01-05 ,29/02/2100,1 DECEMBER 2024,01/12/99,2024-01-05 12:00:00.123,2024-01-05T12:00:00.+00:00,01:01:01,a,R3333333,hello!,5,2024-01-01,2024-01-01
'''

EDGE_CONTRACT = r"""
version: 1
dataset: edge
null_values: ['', NA]
unique: [[site, id]]
rules:
  - {name: closed after opened, check: closed >= opened}
  - {name: small score, check: score * 2 < 150 OR score IS NULL}
columns:
  id: {dtype: int64, nullable: false, unique: true}
  site: {dtype: categorical, checks: {isin: [A, B, C]}}
  n8: {dtype: int8, checks: {in_range: {min: 0, max: 100, include_max: false}}}
  u8: {dtype: uint8, checks: {ne: 7}}
  u64: {dtype: uint64, checks: {le: 18446744073709551615}}
  big: {dtype: int64, checks: {gt: -9223372036854775808}}
  ratio: {dtype: float64, nullable: false, checks: {lt: 1000}}
  f32: {dtype: float32, checks: {ge: -1}}
  flag: {dtype: boolean, checks: {eq: true}}
  day: {dtype: date, checks: {in_range: {min: 2020-01-01, max: 2030-12-31}}}
  uk_day: {dtype: date, format: '%d/%m/%Y'}
  long_day: {dtype: date, format: '%d %B %Y'}
  yy: {dtype: date, format: '%d/%m/%y', checks: {notin: [2069-01-05]}}
  stamp: {dtype: datetime, format: '%Y-%m-%d %H:%M:%S', checks: {ge: '2024-01-05 01:00:00'}}
  zoned: {dtype: datetime, format: '%Y-%m-%dT%H:%M:%S%.f%z'}
  clock: {dtype: time, checks: {lt: '23:00:00'}}
  kind: {dtype: string, nullable: false, checks: {isin: [a, b, c, ""]}}
  code: {dtype: string, checks: {str_matches: '^R\d{7}$', str_length: 8}}
  note: {dtype: string, checks: {str_contains: 'hello$', str_startswith: h, str_endswith: o,
                                 str_length: {min: 2, max: 11}}}
  score: {dtype: int32, checks: {in_range: [0, 100]}}
  opened: {dtype: date}
  closed: {dtype: date}
"""


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    (folder / "edge.csv").write_text(EDGE_CSV, encoding="utf-8")
    (folder / "edge.yaml").write_text(EDGE_CONTRACT, encoding="utf-8")
    return folder / "edge.csv", load_contract(folder / "edge.yaml")


@pytest.fixture(scope="module")
def polars_edge(edge):
    from expedition.validation.engine import validate

    path, contract = edge
    result = validate(path, contract)
    report = result.report.to_dict()
    report.pop("seconds")
    return report, result.quarantine, result.valid


@pytest.mark.parametrize("engine", ENGINES)
def test_edge_cases_give_the_same_outcome_on_both_engines(engine, request, edge, polars_edge) -> None:
    path, contract = edge
    report, quarantine, valid = _run(engine, request, path, contract)
    # what the Polars engine decides, spelled out for a few values that engines read differently
    reasons = dict(zip(quarantine["_row"].to_list(), quarantine["_reasons"].to_list()))
    assert report["rows"]["read"] == 9 and report["rows"]["accounted"]
    assert "n8: not a whole number (int8)" not in reasons.get(1, [])        # " 42" is 42
    assert "n8: not a whole number (int8)" in reasons[3]                     # 300 > int8
    assert "day: not a date (YYYY-MM-DD)" not in reasons.get(2, [])         # 2024-1-5 parses
    assert "day: not a date (YYYY-MM-DD)" in reasons[3]                     # 30 February
    assert "yy: a value that is not allowed" in reasons[2]                   # 69 is 2069
    assert "ratio: missing" in reasons[3]                                    # NaN is missing
    assert "id: duplicated" in reasons[5] and "(site, id) duplicated" in reasons[8]
    assert "breaks rule 'closed after opened' (closed >= opened)" in reasons[2]
    # and the Spark engine decides every row, every count and every value alike
    expected_report, expected_quarantine, expected_valid = polars_edge
    assert report == expected_report
    assert quarantine.equals(expected_quarantine)
    assert quarantine.schema == expected_quarantine.schema
    assert valid.schema == expected_valid.schema
    assert valid.equals(expected_valid)


SHORT_CSV = 'id,name,when,extra\n1,a,2024-01-05,x\n2,b\n3,"c, d",2024-01-06,y\n4\n5,"q ""x""",2024-13-01,z\n'
SHORT_CONTRACT = """
version: 1
dataset: short
columns:
  id: {dtype: int64}
  name: {dtype: string}
  when: {dtype: date}
  missing: {dtype: string, required: false}
  absent: {dtype: string}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_short_rows_extra_and_missing_columns_alike(engine, request, tmp_path) -> None:
    (tmp_path / "short.csv").write_text(SHORT_CSV, encoding="utf-8")
    (tmp_path / "short.yaml").write_text(SHORT_CONTRACT, encoding="utf-8")
    contract = load_contract(tmp_path / "short.yaml")
    from expedition.validation.engine import validate

    expected = validate(tmp_path / "short.csv", contract, allow_extra_columns=True)
    report, quarantine, valid = _run(engine, request, tmp_path / "short.csv", contract,
                                     allow_extra_columns=True)
    expected_report = expected.report.to_dict()
    expected_report.pop("seconds")
    assert report == expected_report
    assert quarantine.equals(expected.quarantine)
    assert valid.equals(expected.valid)
    reasons = dict(zip(quarantine["_row"].to_list(), quarantine["_reasons"].to_list()))
    assert reasons[2] == ["row has 2 fields, the header has 4"]
    assert reasons[4] == ["row has 1 field, the header has 4"]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_example_contract_and_its_rule(engine, request, referrals_csv) -> None:
    """The repo's referrals contract (its rule is SQL both engines read) on 800 referrals."""
    contract = load_contract(Path(__file__).resolve().parents[1] / "examples" / "referrals"
                             / "schemas" / "referrals.yaml")
    from expedition.validation.engine import validate

    expected = validate(referrals_csv, contract)
    report, quarantine, valid = _run(engine, request, referrals_csv, contract)
    expected_report = expected.report.to_dict()
    expected_report.pop("seconds")
    assert report == expected_report
    assert quarantine.equals(expected.quarantine)
    assert valid.equals(expected.valid)


# --------------------------------------------------------------------------- row numbers, scale


@pytest.mark.xdist_group("spark")
def test_row_numbers_are_exact_across_file_blocks(spark, tmp_path) -> None:
    """Small blocks: the file is read by several tasks, and every row keeps its own number."""
    import polars as pl

    from expedition.validation.spark import validate

    rows = 5_000
    path = tmp_path / "blocks.csv"
    pl.DataFrame({"id": [str(i) for i in range(rows)],
                  "v": ["x" if i % 997 == 0 else str(i) for i in range(rows)]}).write_csv(path)
    (tmp_path / "c.yaml").write_text("version: 1\ncolumns:\n  id: {dtype: int64}\n  v: {dtype: int64}\n")
    before = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    try:
        from pyspark.sql import functions as F

        tasks = spark.read.csv(str(path)).select(F.spark_partition_id()).distinct().count()
        result = validate(path, load_contract(tmp_path / "c.yaml"))
        quarantine = result.quarantine.to_polars()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", before)
    assert tasks > 1
    assert quarantine["_row"].to_list() == [i + 1 for i in range(0, rows, 997)]
    assert quarantine["id"].to_list() == [str(i) for i in range(0, rows, 997)]


@pytest.mark.slow
@pytest.mark.xdist_group("spark")
def test_a_million_rows_alike(spark, tmp_path) -> None:
    """The bench's 1M-row delivery: identical counts, failures and reasons on both engines."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import bench_validate

    from expedition.validation import engine as polars_engine
    from expedition.validation import spark as spark_engine

    path = tmp_path / "million.csv"
    bench_validate.generate(1_000_000, path)
    (tmp_path / "bench.yaml").write_text(bench_validate.contract_yaml(), encoding="utf-8")
    contract = load_contract(tmp_path / "bench.yaml")
    expected = polars_engine.validate(path, contract)
    got = spark_engine.validate(path, contract)
    assert got.report.rows_read == 1_000_000
    assert (got.report.rows_valid, got.report.rows_quarantined) == (
        expected.report.rows_valid, expected.report.rows_quarantined)
    assert [(c.id, c.failed, c.examples) for c in got.report.checks] == [
        (c.id, c.failed, c.examples) for c in expected.report.checks]
    quarantine = got.quarantine.to_polars()
    assert quarantine.equals(expected.quarantine)
    assert got.valid.height == expected.valid.height
    got.unpersist()


# --------------------------------------------------------------------------- in a project


@pytest.mark.xdist_group("spark")
def test_cli_engine_flag_and_config_key(spark, project, referrals_csv, cli) -> None:
    import polars as pl

    from expedition.datasets import add_dataset
    from expedition.project import Project

    add_dataset(project, referrals_csv, "referrals")
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "referrals" / "schemas"
                / "referrals.yaml", project.root / "schemas" / "referrals.yaml")
    root = str(project.root)
    assert cli("validate", "referrals", "--project", root, "--json").exit_code in (0, 1)
    by_polars = pl.read_parquet(project.root / "data" / "interim" / "referrals.parquet")
    polars_q = pl.read_parquet(project.root / "data" / "quarantine" / "referrals.parquet")

    result = cli("validate", "referrals", "--engine", "spark", "--project", root, "--json")
    assert result.exit_code in (0, 1), result.output
    assert pl.read_parquet(project.root / "data" / "interim" / "referrals.parquet").equals(by_polars)
    assert pl.read_parquet(project.root / "data" / "quarantine" / "referrals.parquet").equals(polars_q)

    text = (project.root / "expedition.yaml").read_text(encoding="utf-8")
    text = text.replace("  referrals:\n", "  referrals:\n    engine: spark\n", 1)
    (project.root / "expedition.yaml").write_text(text, encoding="utf-8")
    reloaded = Project.load(project.root)
    assert reloaded.config.datasets["referrals"].engine == "spark"
    (project.root / "data" / "interim" / "referrals.parquet").unlink()
    assert cli("validate", "referrals", "--project", root).exit_code in (0, 1)
    assert pl.read_parquet(project.root / "data" / "interim" / "referrals.parquet").equals(by_polars)


def test_without_pyspark_a_short_message(project, referrals_csv, cli, monkeypatch) -> None:
    import builtins

    from expedition.datasets import add_dataset

    add_dataset(project, referrals_csv, "referrals")
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "referrals" / "schemas"
                / "referrals.yaml", project.root / "schemas" / "referrals.yaml")
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    result = cli("validate", "referrals", "--engine", "spark", "--project", str(project.root))
    assert result.exit_code == 2
    assert "Spark engine is not installed" in result.output
    assert "Traceback" not in result.output
    from expedition.errors import ConfigError
    from expedition.validation.spark import require_pyspark

    with pytest.raises(ConfigError) as caught:
        require_pyspark()
    assert 'pip install "expedition[spark]"' in caught.value.fix and "Java 17" in caught.value.fix


def test_an_unknown_engine_is_refused(project, cli) -> None:
    result = cli("validate", "--engine", "duckdb", "--project", str(project.root))
    assert result.exit_code == 2 and "--engine spark" in result.output


# --------------------------------------------------------------------------- regular expressions


@pytest.mark.parametrize("pattern", [
    r"a{1,64}+", r"a++", r"(?P<x>a)", r"(?s)a.b", r"(?m)^a", r"[[:alpha:]]", r"\p{Greek}",
    r"[a-z&&[^aeiou]]", r"a{,3}", r"\<word\>",
])
def test_patterns_outside_the_common_subset_are_refused(pattern) -> None:
    with pytest.raises(BadCheck) as caught:
        check_regex(pattern)
    assert caught.value.fix  # says what to change


@pytest.mark.parametrize("pattern", [
    r"^R\d{7}$", r"(?i)^[a-z]+$", r"^[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$", r"\p{Lu}\p{Nd}+",
    r"^(?:a|b)+?$", r"[$]$",
])
def test_the_common_subset_is_accepted(pattern) -> None:
    check_regex(pattern)


def test_java_reads_a_pattern_as_rust_does() -> None:
    """$ only at the very end, . stops only at a newline, \\d and (?i) are Unicode."""
    import polars as pl

    values = ["abc\n", "a\rc", "١٢٣", "ÉCOLE", "école"]
    for pattern in [r"^abc$", r"^a.c$", r"^\d+$", r"(?i)^école$"]:
        rust = pl.Series(values).str.contains(pattern).to_list()
        java = [re.search(_python(java_regex(pattern)), v) is not None for v in values]
        assert rust == java, pattern


def _python(java: str) -> str:
    """The Java translation read by Python's re (which agrees with Java on these constructs)."""
    return java.replace("(?dU)", "").replace(r"\z", r"\Z")


def test_every_contract_in_the_repo_still_loads() -> None:
    from expedition.contract.infer import value_pattern

    root = Path(__file__).resolve().parents[1]
    for path in root.glob("examples/**/schemas/*.yaml"):
        load_contract(path)
    for kind in ("postcode", "nhs_number", "ni_number", "email", "phone"):
        check_regex(value_pattern(kind))


# --------------------------------------------------------------------------- profiling on Spark


@pytest.mark.xdist_group("spark")
def test_profile_on_spark_agrees_with_polars(spark, referrals_csv, cli) -> None:
    """Counts and missing values exact; distinct counts and quartiles approximate, and said so."""
    import json

    import polars as pl

    frame = pl.read_csv(referrals_csv, infer_schema=False)
    result = cli("profile", "--engine", "spark", str(referrals_csv), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["engine"] == "spark" and doc["rows"] == frame.height
    assert set(doc["approximate"]) == {"distinct_approx", "quantiles_approx"}
    for col in doc["columns"]:
        values = frame.get_column(col["name"])
        assert col["missing"] == values.null_count()
        exact = values.drop_nulls().n_unique()
        assert abs(col["distinct_approx"] - exact) <= max(2, 0.15 * exact)  # 3 x its 5% rsd
        if col["numeric"]:
            numbers = values.str.strip_chars().cast(pl.Float64, strict=False).drop_nulls()
            assert col["min"] == numbers.min() and col["max"] == numbers.max()
            assert numbers.quantile(0.25, "lower") <= col["quantiles_approx"]["p50"] <= numbers.quantile(0.75, "higher")
