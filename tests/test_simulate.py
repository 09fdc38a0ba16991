"""`simulate`: checked against exact queueing results, scenarios that move waits the right way,
seeded, and short errors for bad parameters; end to end with `pathways` through a pack."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.simulate import Simulate
from expedition.testing import publish

CTX = StepContext(seed=3, disclosure=DisclosureConfig(min_count=10))
NOTHING = pl.DataFrame({"x": [1]})


def raw(data: pl.DataFrame = NOTHING, ctx: StepContext = CTX, **params):
    return Simulate().run(data.lazy(), Simulate.parse_params(params), ctx)


def one_stage(per_day: float, servers: int, mean: float, **more) -> dict:
    return {"arrivals": {"per_day": per_day},
            "stages": [{"name": "assessment", "servers": servers,
                        "service_days": {"distribution": "exponential", "mean": mean}}], **more}


def erlang_c_wait(arrivals: float, servers: int, mean: float) -> float:
    """The exact mean wait in an M/M/c queue (Erlang C), in the textbook form."""
    a = arrivals * mean
    top = a**servers / math.factorial(servers) / (1 - a / servers)
    waiting = top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)
    return waiting / (servers / mean - arrivals)


def baseline(finding, stage: str = "assessment") -> dict:
    frame = finding.tables["stages"].frame
    return frame.filter((pl.col("scenario") == "baseline") & (pl.col("stage") == stage)).row(0, named=True)


@pytest.mark.parametrize(
    ("per_day", "servers", "mean", "days"),
    [
        (0.8, 1, 1.0, 10000),  # M/M/1 at 80%: Wq = rho / (mu - lambda) = 4 days
        (9.0, 10, 1.0, 1500),  # M/M/10 at 90%, the example: Erlang C
    ],
    ids=["M/M/1", "M/M/c"],
)
def test_waits_match_exact_queueing_results(per_day, servers, mean, days):
    expected = erlang_c_wait(per_day, servers, mean)
    if servers == 1:
        assert expected == pytest.approx(0.8 / (1 - 0.8))
    row = baseline(raw(**one_stage(per_day, servers, mean, days=days, warmup_days=150, replications=8)))
    assert row["wait_low"] <= expected <= row["wait_high"], (expected, row)
    assert abs(row["mean_wait_days"] / expected - 1) < 0.10, (expected, row)
    assert row["utilisation"] == pytest.approx(per_day * mean / servers, rel=0.03)
    assert row["throughput"] == pytest.approx(per_day, rel=0.03)
    assert row["mean_queue"] == pytest.approx(per_day * row["mean_wait_days"], rel=0.05)  # Little's law


def test_scenarios_move_the_waits_the_right_way():
    params = one_stage(9.0, 10, 1.0, days=600, warmup_days=60, replications=4, scenarios=[
        {"name": "one more worker", "stages": {"assessment": {"servers": 11}}},
        {"name": "more demand", "demand": 1.05},
        {"name": "quicker service", "stages": {"assessment": {"service_days": {"distribution": "deterministic", "mean": 1}}}},
    ])
    finding = publish(raw(**params), CTX.disclosure)
    frame = finding.tables["stages"].frame
    assert frame["scenario"].to_list() == ["baseline", "one more worker", "more demand", "quicker service"]
    wait = dict(zip(frame["scenario"], frame["mean_wait_days"]))
    assert wait["one more worker"] < wait["baseline"] < wait["more demand"]
    assert wait["quicker service"] < wait["baseline"]  # M/D/c waits about half as long as M/M/c
    text = " ".join(finding.headlines)
    assert "With one more worker (assessment: 11 servers instead of 10), the mean wait at assessment falls from" in text
    assert "With more demand (demand × 1.05), the mean wait at assessment rises from" in text
    over = finding.tables["over_time"].frame
    assert set(over["scenario"]) == set(wait) and over["week"].min() >= 60 // 7
    for name in ("waits", "backlog"):
        assert finding.figures[name].svg.startswith(b"<?xml") and finding.figures[name].alt


def test_routing_sends_the_given_share_on():
    params = {"arrivals": {"per_day": 10},
              "stages": [{"name": "assessment", "servers": 20, "service_days": {"mean": 1}, "next": {"plan": 0.3}},
                         {"name": "plan", "servers": 10, "service_days": {"mean": 2}}],
              "days": 400, "warmup_days": 40, "replications": 3}
    frame = raw(**params).tables["stages"].frame
    through = dict(zip(frame["stage"], frame["throughput"]))
    assert through["plan"] / through["assessment"] == pytest.approx(0.3, abs=0.03)


def test_the_same_seed_gives_the_same_tables():
    params = one_stage(4.0, 5, 1.0, days=200, warmup_days=20, replications=3)
    a, b = raw(**params), raw(**params)
    other = raw(ctx=StepContext(seed=4), **params)
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)
    assert not a.tables["stages"].frame.equals(other.tables["stages"].frame)


def test_arrivals_service_and_routing_from_the_event_log():
    from expedition.examples.pathways import MEAN_DAYS, ROUTES, generate
    from expedition.steps._eventlog import read_log, routing

    log = generate(days=365, seed=8)
    params = {"arrivals": {"from": "events"}, "days": 200, "warmup_days": 20, "replications": 2,
              "stages": [{"name": n, "servers": s, "service_days": {"from": "events"}, "next": {"from": "events"}}
                         for n, s in (("referral", 30), ("assessment", 60), ("plan", 200), ("review", 60))]}
    finding = publish(raw(log, **params), CTX.disclosure)
    service = finding.tables["service"].frame
    for row in service.iter_rows(named=True):
        assert row["source"] == "fitted" and row["stays"] > 100
        assert row["mean_days"] == pytest.approx(MEAN_DAYS[row["stage"]], rel=0.15)
        assert row["distribution"] in ("exponential", "gamma")  # planted exponential (gamma nests it)
    _, shares = routing(read_log(log, case=None, activity=None, time=None, start=None, end=None, roles={}, step="t"),
                        ["referral", "assessment", "plan", "review"])
    for source, routes in ROUTES.items():
        for target, share in routes:
            if source in shares and target in shares:
                assert shares[source].get(target, 0.0) == pytest.approx(share, abs=0.04), (source, target)
    # new cases (4 a day, planted) and cases coming back from close, which is not a stage
    events = read_log(log, case=None, activity=None, time=None, start=None, end=None, roles={}, step="t")
    firsts = events.stays.filter(pl.col("first")).height
    back = events.stays.filter((pl.col("activity") == "close") & (pl.col("next") == "referral")).height
    assert back > 50
    assert finding.metrics["arrivals_per_day"] == pytest.approx((firsts + back) / events.span_days)
    assert firsts / events.span_days == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stages": [{"name": "a", "servers": 0, "service_days": {"mean": 1}}]}, "greater than or equal to 1"),
        ({"stages": [{"name": "a", "servers": 1, "service_days": {"mean": -1}}]}, "greater than 0"),
        ({"stages": [{"name": "a", "servers": 1, "service_days": {"distribution": "weibull", "mean": 1}}]}, "exponential"),
        ({"stages": [{"name": "a", "servers": 1, "service_days": {"mean": 1}, "next": {"a": 0.7, "b": 0.6}}]}, "more than 1"),
        ({"stages": [{"name": "a", "servers": 1, "service_days": {"mean": 1}, "next": {"b": 0.6}}]}, "not a stage"),
        ({"scenarios": [{"name": "x", "stages": {"b": {"servers": 2}}}]}, "which is not a stage"),
        ({"arrivals": {"per_day": 1, "from": "events"}}, "exactly one of"),
        ({"warmup_days": 500}, "less than days"),
    ],
)
def test_bad_params_are_short_errors_that_say_what_to_fix(change, message):
    params = {"arrivals": {"per_day": 1}, "stages": [{"name": "a", "servers": 1, "service_days": {"mean": 1}}],
              "days": 400, **change}
    with pytest.raises(StepError, match=message) as caught:
        Simulate.parse_params(params)
    assert "steps show simulate" in caught.value.fix


def test_a_stage_not_in_the_log_is_a_step_error():
    from expedition.examples.pathways import generate

    params = {"arrivals": {"from": "events"},
              "stages": [{"name": "triage", "servers": 1, "service_days": {"from": "events"}}], "days": 100}
    with pytest.raises(StepError, match="'triage' is not an activity"):
        raw(generate(days=60, seed=1), **params)


def test_a_loop_nobody_leaves_is_a_step_error():
    params = {"arrivals": {"per_day": 1}, "days": 100,
              "stages": [{"name": "a", "servers": 1, "service_days": {"mean": 1}, "next": {"a": 1.0}}]}
    with pytest.raises(StepError, match="round for ever"):
        raw(**params)


def test_pathways_and_simulate_through_a_verified_pack(cli, project_dir):
    """As a user works: the example event log added, validated, run through both steps, packed and
    verified; no case id leaves, and no small count is published."""
    import json
    from pathlib import Path

    from expedition.examples.pathways import generate
    from expedition.project import Project
    from expedition.runner import stored_findings
    from expedition.testing import attack

    p = str(project_dir)
    log = generate(days=240, seed=9)
    rare = pl.DataFrame({"case_id": ["Z000001", "Z000001", "Z000002", "Z000002"],
                         "activity": ["referral", "appeal", "referral", "appeal"],
                         "timestamp": log["timestamp"][:4], "team": ["North"] * 4, "outcome": ["improved"] * 4})
    path = Path(project_dir) / "events.csv"
    pl.concat([log, rare]).write_csv(path)
    assert cli("data", "add", str(path), "--name", "events", "-q", "-p", p).exit_code == 0
    config = Path(project_dir) / "expedition.yaml"
    config.write_text(config.read_text().replace("steps: []", """steps:
  - id: case-pathways
    step: pathways
    dataset: events
    params: {case: case_id, activity: activity, time: timestamp, start: [referral], end: [close, appeal]}
  - id: capacity
    step: simulate
    dataset: events
    params:
      arrivals: {from: events}
      stages:
        - {name: referral, servers: 12, service_days: {from: events}, next: {from: events}}
        - {name: assessment, servers: 50, service_days: {distribution: exponential, mean: 10}, next: {from: events}}
      days: 120
      warmup_days: 20
      replications: 2
      scenarios:
        - {name: fewer referral workers, stages: {referral: {servers: 10}}}"""))
    assert cli("schema", "infer", "events", "-q", "-p", p).exit_code == 0
    assert cli("validate", "-q", "-p", p).exit_code == 0
    result = cli("run", "--json", "-p", p)
    assert result.exit_code == 0, result.output
    packed = cli("pack", "--json", "-p", p)
    assert packed.exit_code == 0, packed.output
    pack = Path(json.loads(packed.stdout)["path"])
    verified = cli("pack", "verify", str(pack), "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True, verified.output
    published = " ".join(f.read_text(encoding="utf-8", errors="replace") for f in pack.rglob("*")
                         if f.is_file() and f.suffix in {".csv", ".html", ".md", ".json"})
    assert "C000001" not in published and "Z000001" not in published
    moves = pl.read_csv(pack / "tables" / "case-pathways__transitions.csv", infer_schema=False)
    appeal = moves.filter(pl.col("to") == "appeal").row(0, named=True)
    assert appeal["cases"] in ("c", None, "")
    project = Project.load(project_dir)
    assert attack(stored_findings(project), DisclosureConfig(min_count=project.config.disclosure.min_count)) == []


def test_steps_show_documents_simulate(cli):
    from _text import flat

    shown = flat(cli("steps", "show", "simulate").stdout)
    for name in ("arrivals", "stages", "days", "warmup_days", "replications", "scenarios", "over_time"):
        assert name in shown
    assert "per_day: 9" in shown and "one more worker" in shown


def test_erlang_c_formula_matches_a_known_value():
    # M/M/2 with a = 1 (rho = 0.5): P(wait) = 1/3, Wq = (1/3) / (2 - 1) with mu = 1
    assert erlang_c_wait(1.0, 2, 1.0) == pytest.approx(1 / 3)
    assert np.isclose(erlang_c_wait(9.0, 10, 1.0), 0.6687, atol=1e-4)


def test_arrivals_follow_a_forecast_finding_and_its_scenarios(cli, project_dir):
    """forecast → simulate, as the demand-and-capacity card runs them: the forecast's mean daily
    demand feeds the arrivals, its scenario becomes a scenario, and a changed forecast runs the
    simulation again."""
    import json
    from pathlib import Path

    from expedition.examples.demand import generate

    p = str(project_dir)
    months = generate(48, seed=3).filter(pl.col("unit") == "Out of Hours")  # about 150 a month
    path = Path(project_dir) / "demand.csv"
    months.write_csv(path)
    assert cli("data", "add", str(path), "--name", "demand", "-q", "-p", p).exit_code == 0
    config = Path(project_dir) / "expedition.yaml"
    steps = """steps:
  - id: capacity
    step: simulate
    dataset: demand
    params:
      arrivals: {forecast: demand-forecast}
      stages: [{name: assessment, servers: 6, service_days: {mean: 1}}]
      days: 200
      warmup_days: 20
      replications: 2
  - id: demand-forecast
    step: forecast
    dataset: demand
    params: {date: month, count: demand, horizon: 6, folds: 1, models: [seasonal_naive, naive, mean],
             scenarios: [{name: More, change: 0.2, from: "2023-01"}]}"""
    config.write_text(config.read_text().replace("steps: []", steps))
    assert cli("schema", "infer", "demand", "-q", "-p", p).exit_code == 0
    assert cli("validate", "-q", "-p", p).exit_code == 0
    from expedition.project import Project
    from expedition.runner import plan

    with pytest.raises(StepError, match="reads the finding of step 'demand-forecast', which comes after it"):
        plan(Project.load(project_dir))
    assert cli("run", "-p", p).exit_code == 2
    first, second = steps.split("  - id: demand-forecast")
    config.write_text(config.read_text().replace(steps, "steps:\n  - id: demand-forecast" + second + "\n"
                                                  + first.removeprefix("steps:\n")))
    result = cli("run", "--json", "-p", p)
    assert result.exit_code == 0, result.output
    found = {f["id"]: f for f in json.loads(result.stdout)}["capacity"]
    assert found["metrics"]["arrivals_per_day"] == pytest.approx(150 / 30.4, rel=0.15)
    assert any("Arrivals follow the forecast of step demand-forecast" in h for h in found["headlines"])
    stages = pl.read_parquet(Path(project_dir) / ".expedition" / "findings" / "capacity" / "tables" / "stages.parquet")
    assert stages["scenario"].to_list() == ["baseline", "forecast: More"]
    assert stages["mean_wait_days"][1] > stages["mean_wait_days"][0]
