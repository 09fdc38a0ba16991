"""Derived datasets (`derived:` and `expedition prepare`): made with SQL inside the expedition,
cached by what made them, traceable to the raw deliveries, and refusing what would break a
promise (data from outside the expedition, personal data unflagged, a few rows left out)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _text import flat
from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import ConfigError, ExpeditionError
from expedition.prepare import inputs_of, open_derived, prepare, references
from expedition.runner import run


def configure(project, derived: dict, steps: list | None = None):
    def change(doc):
        doc["derived"] = derived
        if steps is not None:
            doc["steps"] = steps

    update_config(project.config_path, change)
    return project.reload()


@pytest.fixture
def ready(project, referrals_csv, validated):
    add_dataset(project, referrals_csv, "referrals")
    return validated(project.reload(), "referrals")


def truth(referrals_csv) -> pl.DataFrame:
    return pl.read_csv(referrals_csv, infer_schema_length=0)


# --------------------------------------------------------------------------- what users do


def test_a_derived_outcome_is_prepared_cached_and_read_by_steps(ready, referrals_csv):
    sql = ("SELECT *, CASE WHEN closure_reason = 'No further action' THEN 'yes' ELSE 'no' END "
           "AS nfa FROM referrals")
    project = configure(ready, {"closed_nfa": {"sql": sql}}, [
        {"id": "nfa", "step": "eda", "dataset": "closed_nfa", "params": {"variables": ["nfa"]}}])
    first = prepare(project)
    assert [p.name for p in first] == ["closed_nfa"] and not first[0].cached
    raw = truth(referrals_csv)
    assert first[0].rows == raw.height
    out = pl.read_parquet(project.root / first[0].file)
    expected = (raw["closure_reason"] == "No further action").sum()
    assert (out["nfa"] == "yes").sum() == expected
    # unchanged: reused; the SQL changed: made again
    assert prepare(project)[0].cached
    project = configure(project, {"closed_nfa": {"sql": sql + " WHERE age IS NOT NULL"}})
    assert not prepare(project)[0].cached
    # the runner reads it like any dataset, and the provenance names the SQL and the raw file
    finding = run(project)[0]
    derived = finding.provenance["derived"]
    assert "CASE WHEN closure_reason" in derived["sql"]
    [source] = derived["inputs"]
    delivery = project.config.datasets["referrals"].latest
    assert source["name"] == "referrals" and source["deliveries"][0]["sha256"] == delivery.sha256
    record = json.loads((project.state_dir / "derived" / "closed_nfa.json").read_text())
    assert record["sha256"] == finding.provenance["validated_sha256"]


def test_a_join_and_group_by_over_two_datasets(ready, tmp_path):
    lookup = tmp_path / "districts.csv"
    pl.DataFrame({"district": ["Basildon", "Braintree", "Colchester"],
                  "population": [187_000, 155_000, 195_000]}).write_csv(lookup)
    add_dataset(ready, lookup, "districts")
    from expedition.contract import draft_contract
    from expedition.validation import validate_dataset

    project = ready.reload()
    draft_contract(project, "districts")
    project = project.reload()
    validate_dataset(project, "districts")
    project = configure(project, {"per_district": {"sql": """
        SELECT r.district, COUNT(*) AS referrals, MAX(d.population) AS population
        FROM referrals r JOIN districts d ON r.district = d.district
        GROUP BY r.district"""}})
    [made] = prepare(project)
    out = pl.read_parquet(project.root / made.file).sort("district")
    raw = pl.read_parquet(project.root / "data/interim/referrals.parquet")
    want = raw.filter(pl.col("district").is_in(["Basildon", "Braintree", "Colchester"])) \
        .group_by("district").len().sort("district")
    assert out["district"].to_list() == want["district"].to_list()
    assert out["referrals"].to_list() == want["len"].to_list()
    assert [i["name"] for i in made.inputs] == ["referrals", "districts"]


def test_derived_datasets_prepare_in_order_and_a_cycle_is_refused(ready):
    project = configure(ready, {
        "b": {"sql": "SELECT district, n FROM a WHERE n > 0"},
        "a": {"sql": "SELECT district, COUNT(*) AS n FROM referrals GROUP BY district"},
    })
    assert [p.name for p in prepare(project, ["b"])] == ["a", "b"]
    project = configure(project, {"a": {"sql": "SELECT * FROM b"}, "b": {"sql": "SELECT * FROM a"}})
    with pytest.raises(ConfigError, match="cycle: a → b → a"):
        prepare(project, ["a"])


def test_the_cli_prepares_with_a_preview_and_json(ready, cli):
    configure(ready, {"young": {"sql": "SELECT district, age, postcode FROM referrals WHERE age < 10"}})
    result = cli("prepare", "--project", str(ready.root))
    assert result.exit_code == 0, result.output
    assert "young:" in result.output and "postcode" in result.output  # flagged, values never shown
    result = cli("prepare", "--project", str(ready.root), "--json")
    [made] = json.loads(result.output)
    assert made["cached"] and set(made["personal"]) == {"postcode"}
    assert made["preview"] and all("postcode" not in row for row in made["preview"])


# --------------------------------------------------------------------------- personal data


def test_personal_flags_follow_the_data(ready):
    project = configure(ready, {
        "passed": {"sql": "SELECT postcode, district FROM referrals"},
        "made": {"sql": "SELECT UPPER(postcode) AS area_code, district FROM referrals"},
        "counted": {"sql": "SELECT district, COUNT(postcode) AS n FROM referrals GROUP BY district"},
    })
    contract = open_derived(project, "passed").contract
    assert contract.personal == {"postcode"}
    made = open_derived(project, "made").contract
    assert "area_code" in made.personal and "district" not in made.personal
    assert open_derived(project, "counted").contract.personal == frozenset()


# --------------------------------------------------------------------------- the attacker


@pytest.mark.parametrize("sql, words", [
    ("SELECT * FROM read_csv('/etc/passwd')", "reads data from outside the expedition"),
    ("SELECT * FROM referrals r JOIN read_parquet('x.parquet') p ON r.district = p.d", "outside the expedition"),
    ("SELECT * FROM (SELECT * FROM Read_Csv('/etc/hosts'))", "outside the expedition"),
    ("SELECT * FROM/**/read_csv('/etc/passwd')", "outside the expedition"),
    ('SELECT * FROM "read_csv"(\'/etc/passwd\')', "outside the expedition"),
    ("SELECT * FROM referrals; DROP TABLE referrals", "more than one statement"),
    ("DROP TABLE referrals", "must be a SELECT"),
    ("SELEC * FROM referrals", "must be a SELECT"),
    ("SELECT * FROM referals", "no dataset called 'referals' (did you mean 'referrals'?)"),
    ("SELECT agee FROM referrals", "no column 'agee'"),
    ("SELECT * FROM referrals WHERE", "does not run"),
    ("SELECT * FROM odd", "reads the dataset it makes"),
])
def test_bad_sql_is_refused_with_what_and_where(ready, cli, sql, words):
    configure(ready, {"odd": {"sql": sql}})
    result = cli("prepare", "--project", str(ready.root))
    assert result.exit_code != 0
    assert words in flat(result.output), result.output
    assert "Traceback" not in result.output
    assert not (ready.root / "data" / "processed" / "odd.parquet").exists()


def test_a_position_is_given_in_the_sql(ready):
    project = configure(ready, {"odd": {"sql": "SELECT district,\n  agee\nFROM referrals"}})
    with pytest.raises(ConfigError) as err:
        prepare(project)
    assert "line 2, column 3" in err.value.what


def test_a_few_rows_left_out_are_refused(ready, referrals_csv):
    raw = truth(referrals_csv)
    one = raw["referral_id"][0]
    project = configure(ready, {"all_but_one": {"sql": f"SELECT * FROM referrals WHERE referral_id <> '{one}'"}})
    with pytest.raises(ConfigError, match="leaves out 1 of"):
        prepare(project)
    assert not (project.root / "data" / "processed" / "all_but_one.parquet").exists()


_FRAGMENTS = st.sampled_from([
    "SELECT", "*", "FROM", "referrals", "WHERE", "age", ">", "3", "read_csv('/etc/passwd')", ";",
    "JOIN", "ON", "(", ")", "'", '"', "--", "/*", "*/", "GROUP BY", "district", ",", "COUNT(*)",
    "AS", "n", "UNION", "SELECT 1", "WITH", "x", "read_parquet", "\n",
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_FRAGMENTS, min_size=1, max_size=12), noise=st.text(max_size=8))
def test_no_sql_reads_outside_or_crashes(ready, parts, noise):
    sql = " ".join(parts) + noise
    if not sql.strip():
        return
    project = configure(ready, {"fuzz": {"sql": sql}})
    try:
        made = prepare(project, force=True)
    except ExpeditionError:
        return
    # it ran: then it read only the expedition's datasets
    refs, _ = references(sql)
    assert not any(r.call for r in refs)
    assert inputs_of(project, "fuzz") == ["referrals"]
    assert made[-1].rows >= 0


def test_made_again_it_is_the_same_file(ready, tmp_path):
    """A join or GROUP BY comes out of the engine in a different order each run; the derived
    dataset must not, or its hash (in every finding's lineage and cache key) would change."""
    project = configure(ready, {
        "by_district": {"sql": "SELECT district, sex, COUNT(*) AS n, AVG(age) AS mean_age "
                               "FROM referrals GROUP BY district, sex"},
        "joined": {"sql": "SELECT r.referral_id, r.age, b.n FROM referrals r "
                          "JOIN by_district b ON r.district = b.district AND r.sex = b.sex"},
    })
    hashes = {tuple(p.sha256 for p in prepare(project, force=True)) for _ in range(4)}
    assert len(hashes) == 1


def test_key_material_in_a_manifest_is_not_read_as_personal_data():
    from expedition.pack.verify import _json_strings

    manifest = {"signer": {"fingerprint": "SHA256:WL35US+hYiZdtcYg+vxUWwMiYWTpwQ16R+xAeSqQ3AI",
                           "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHGMZ4p9t+lGUodQT3cU6ncR3DLxnfO/6wszb+s2k5xq"},
                "sha256": "0" * 64, "note": "seen at M1 1AE", "comment": "ssh-ed25519 AAAA Jane Smith"}
    assert _json_strings(manifest) == ["seen at M1 1AE", "ssh-ed25519 AAAA Jane Smith"]


def test_a_join_keeping_every_row_number_comes_out_in_the_inputs_order(ready):
    """Made again, a join is the same file, its rows in the order of the first table's rows."""
    project = configure(ready, {
        "sizes": {"sql": "SELECT district, COUNT(*) AS n FROM referrals GROUP BY district"},
        "with_size": {"sql": "SELECT r.*, s.n FROM referrals r JOIN sizes s ON r.district = s.district"},
    })
    hashes = {prepare(project, force=True)[-1].sha256 for _ in range(3)}
    assert len(hashes) == 1
    out = pl.read_parquet(project.root / "data/processed/with_size.parquet")
    raw = pl.read_parquet(project.root / "data/interim/referrals.parquet")
    assert out["referral_id"].to_list() == raw["referral_id"].to_list()
    assert not any(c.startswith("__") for c in out.columns)


@pytest.mark.parametrize("sql", [
    "SELECT DISTINCT district, sex FROM referrals",
    "SELECT * FROM referrals NATURAL JOIN referrals r2",
    "SELECT a.referral_id, b.age FROM referrals a JOIN referrals b ON a.referral_id = b.referral_id",
    "SELECT district FROM referrals UNION ALL SELECT district FROM referrals",
    "SELECT district, sex FROM referrals UNION SELECT district, sex FROM referrals",
    "SELECT * FROM referrals WHERE district IN (SELECT district FROM referrals WHERE age > 15)",
    "WITH t AS (SELECT * FROM referrals) SELECT * FROM t WHERE age > 10",
])
def test_the_hidden_row_numbers_never_change_what_a_query_means(ready, sql):
    """The row numbers that fix the output's order must not make duplicate rows distinct, join
    on themselves or show in the result: each query gives the rows Polars gives without them."""
    project = configure(ready, {"q": {"sql": sql}})
    [made] = prepare(project)
    out = pl.read_parquet(project.root / made.file)
    raw = pl.scan_parquet(project.root / "data/interim/referrals.parquet")
    want = pl.SQLContext({"referrals": raw}, eager=False).execute(sql).collect()
    assert out.columns == want.columns
    assert made.rows == want.height
    assert out.sort(out.columns, nulls_last=True).equals(want.sort(want.columns, nulls_last=True))


def test_a_join_that_repeats_input_rows_is_still_the_same_file(ready):
    """One input row joined to several rows whose row numbers are dropped: the numbers kept
    repeat, so the rows are sorted by every column instead (and still come out the same)."""
    project = configure(ready, {
        "twice": {"sql": "SELECT district, sex FROM referrals UNION ALL SELECT district, sex FROM referrals"},
        "fanned": {"sql": "SELECT r.*, t.sex AS other_sex FROM referrals r JOIN twice t "
                          "ON r.district = t.district WHERE r.age < 4"},
    })
    hashes = {prepare(project, force=True)[-1].sha256 for _ in range(3)}
    assert len(hashes) == 1
    out = pl.read_parquet(project.root / "data/processed/fanned.parquet")
    assert out.height > out["referral_id"].n_unique() > 0
    # in the order of the referrals' rows, then by the other columns
    raw = pl.read_parquet(project.root / "data/interim/referrals.parquet").with_row_index("row")
    order = out.join(raw.select("referral_id", "row"), on="referral_id", how="left", maintain_order="left")
    assert order.equals(order.sort(["row", *out.columns], nulls_last=True))


def test_status_lists_the_derived_datasets(ready, cli):
    project = configure(ready, {"older": {"sql": "SELECT * FROM referrals WHERE age >= 8"}})
    p = str(project.root)
    before = json.loads(cli("status", "--json", "-p", p).stdout)["made"]
    assert before == {"older": {"kind": "derived", "from": ["referrals"], "made": False, "rows": None}}
    assert "expedition prepare older" in flat(cli("status", "-p", p).stdout)
    [made] = prepare(project)
    after = json.loads(cli("status", "--json", "-p", p).stdout)["made"]["older"]
    assert after["made"] and after["rows"] == made.rows
