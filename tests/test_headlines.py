"""Headlines never contradict the tables they summarise: for every built-in step, each number a
published headline quotes is read back out of the sentence and checked against the published
tables of the same finding (or a value derived from them, such as a share of two counts).

The findings are published through the disclosure gate, as a reader sees them; where a figure is
suppressed the sentence falls back to fewer numbers, and the checks below match what is left.
"""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest

from expedition.config import DisclosureConfig
from expedition.examples.referrals import generate
from expedition.steps import StepContext, get_step
from expedition.steps._text import fmt_num, fmt_p
from expedition.testing import publish

RULES = DisclosureConfig(min_count=10)
CTX = StepContext(seed=3, disclosure=RULES)

NUMBER = r"-?[\d,]*\.?\d+"


def published(step: str, data: pl.DataFrame, ctx: StepContext = CTX, **params):
    cls = get_step(step)
    finding = cls().run(data.lazy(), cls.parse_params(params), ctx)
    return publish(finding.with_(id=step, population="data"), ctx.disclosure)


def rows(finding, table: str, **where) -> list[dict]:
    frame = finding.tables[table].frame
    for column, value in where.items():
        frame = frame.filter(pl.col(column) == value)
    return list(frame.iter_rows(named=True))


def one(finding, table: str, **where) -> dict:
    found = rows(finding, table, **where)
    assert len(found) == 1, (table, where, found)
    return found[0]


def starting(finding, prefix: str) -> list[str]:
    lines = [h for h in finding.headlines if h.startswith(prefix)]
    assert lines, f"no headline starts with {prefix!r}: {finding.headlines}"
    return lines


def as_shown(text: str, share: float) -> str:
    """*share* as a percentage with as many decimals as *text* shows."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{share * 100:.{decimals}f}"


def n(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.fixture(scope="module")
def referrals() -> pl.DataFrame:
    return generate(3000, seed=5)


# --------------------------------------------------------------------------- eda


def test_eda_headlines_quote_its_tables(referrals):
    data = referrals.drop("referral_note").with_columns(
        pl.when(pl.int_range(pl.len()) % 8 == 0).then(None).otherwise(pl.col("age")).alias("age"))
    finding = published("eda", data, outcome="rereferred_12m", outcome_value="yes")
    # the outcome rate's range: the lowest and highest rates of the variable in the outcome_rates table
    (line,) = starting(finding, "The outcome rate varies most by ")
    variable, low, low_cat, low_ci, high, high_cat, high_ci = re.match(
        rf"The outcome rate varies most by (\S+): from ({NUMBER})% \((.+?), 95% CI ({NUMBER}%–{NUMBER}%)\) to "
        rf"({NUMBER})% \((.+?), 95% CI ({NUMBER}%–{NUMBER}%)\)", line).groups()
    by = {r["category"]: r for r in rows(finding, "outcome_rates", variable=variable)}
    for rate, category, ci in ((low, low_cat, low_ci), (high, high_cat, high_ci)):
        r = by[category]
        assert rate == f"{r['outcome_n'] / r['n'] * 100:.1f}" == f"{r['rate'] * 100:.1f}"
        assert ci == f"{r['ci_low'] * 100:.1f}%–{r['ci_high'] * 100:.1f}%"
    assert float(low) / 100 == pytest.approx(min(r["rate"] for r in by.values()), abs=0.0005)
    assert float(high) / 100 == pytest.approx(max(r["rate"] for r in by.values()), abs=0.0005)
    outcome = one(finding, "outcome")
    (line,) = starting(finding, "Overall, ")
    rate, k, total = re.fullmatch(rf"Overall, ({NUMBER})% of records have rereferred_12m = yes \(({NUMBER}) of "
                                  rf"({NUMBER})\)\.", line).groups()
    assert (n(k), n(total)) == (outcome["outcome_n"], outcome["n"])
    assert rate == f"{outcome['rate'] * 100:.1f}" == f"{n(k) / n(total) * 100:.1f}"
    (line,) = starting(finding, "The data hold ")
    assert n(re.match(rf"The data hold ({NUMBER}) records", line).group(1)) == outcome["n"] == referrals.height
    # the strongest correlation is the largest in the correlations table, with its value
    (line,) = starting(finding, "The strongest correlation is between ")
    rho = re.search(rf"Spearman's rho = ({NUMBER})\)", line).group(1)
    strongest = max(rows(finding, "correlations"), key=lambda r: abs(r["spearman"]))
    assert line.startswith(f"The strongest correlation is between {strongest['variable_1']} and "
                           f"{strongest['variable_2']}")
    assert rho == fmt_num(strongest["spearman"], 2)
    # missing values: how many columns have any, and the most missing with its share
    missingness = rows(finding, "missingness")
    (line,) = [h for h in finding.headlines if "missing values; the most is " in h]
    k, columns, worst, share = re.match(rf"({NUMBER}) of ({NUMBER}) columns have missing values; the most is (\S+) "
                                        rf"\(({NUMBER})% missing\)", line).groups()
    assert (n(k), n(columns)) == (sum(r["missing"] > 0 for r in missingness), len(missingness))
    most = max(missingness, key=lambda r: r["missing"])
    assert worst == most["variable"] == "age"
    assert share == f"{most['missing'] / outcome['n'] * 100:.1f}" == f"{most['missing_share'] * 100:.1f}"


# --------------------------------------------------------------------------- significance


def _check_significance(finding, group: str, values: int) -> None:
    tests = {r["variable"]: r for r in rows(finding, "tests")}
    significant = [v for v, r in tests.items() if r["significant"] == "yes"]
    first = finding.headlines[0]
    counted = re.search(rf"({NUMBER}) variables? compared.*\(({NUMBER}) records\); ({NUMBER}) differs?", first)
    if counted is None:  # across several groups: "(k groups, n records)"
        counted = re.search(rf"({NUMBER}) variables? compared across {group} \(({NUMBER}) groups, ({NUMBER}) "
                            rf"records\); ({NUMBER}) differs?", first)
        k, groups, records, differ = (n(x) for x in counted.groups())
        assert groups == values
    else:
        k, records, differ = (n(x) for x in counted.groups())
    assert k == len(tests) and differ == len(significant)
    assert records == max(r["n"] for r in tests.values() if r["kind"] == "categorical")
    numeric = rows(finding, "numeric_groups")
    crosstab = rows(finding, "crosstab")
    quoted = 0
    for variable in significant:
        row = tests[variable]
        (line,) = [h for h in finding.headlines[1:] if h.startswith(variable + " ") or f"where {variable} is" in h
                   or f"varies with {variable}," in h]
        assert f"adjusted {fmt_p(row['p_adjusted'])}" in line
        if row["effect"] == "risk difference":
            scale = 100
        else:
            scale = 1
        estimate = re.search(rf"(?:= |difference of )({NUMBER})(?: percentage points)?, 95% CI ({NUMBER}) to "
                             rf"({NUMBER});", line)
        assert estimate is not None, line
        assert estimate.groups() == tuple(fmt_num(scale * row[c], 2) for c in ("effect_size", "effect_low", "effect_high"))
        for stat in ("median", "mean"):
            pair = re.search(rf"\({stat} ({NUMBER}) vs ({NUMBER});", line)
            if pair:
                means = {r["group"]: r[stat] for r in numeric if r["variable"] == variable}
                assert sorted(pair.groups()) == sorted(fmt_num(v) for v in means.values())
                quoted += 1
        ranges = re.search(rf"from ({NUMBER})% \((.+?)\) to ({NUMBER})% \((.+?)\)", line)
        if ranges:
            low, low_cat, high, high_cat = ranges.groups()
            for share, category in ((low, low_cat), (high, high_cat)):
                cells = [r for r in crosstab if r["variable"] == variable and r["category"] == category]
                focus = cells[0]["group"]
                in_focus = next(r["n"] for r in cells if r["group"] == focus)
                assert share == f"{in_focus / sum(r['n'] for r in cells) * 100:.1f}"
            quoted += 1
    assert quoted or not significant


def test_significance_headlines_quote_its_tables(referrals):
    finding = published("significance", referrals, group="rereferred_12m", group_value="yes",
                        variables=["age", "prior_referrals", "district", "closure_reason", "disability", "sex"])
    assert sum(r["significant"] == "yes" for r in rows(finding, "tests")) >= 2
    _check_significance(finding, "rereferred_12m", 2)


def test_significance_of_one_value_against_the_rest_quotes_its_tables(referrals):
    finding = published("significance", referrals, group="district", group_value="Colchester",
                        variables=["age", "prior_referrals", "closure_reason"])
    others = referrals["district"].n_unique() - 1
    assert finding.headlines[0].startswith(f"Colchester compared with all {others} other values of district together")
    _check_significance(finding, "district", 2)
    assert {r["group"] for r in rows(finding, "numeric_groups")} == {"Colchester", "other than Colchester"}


# --------------------------------------------------------------------------- segment


def test_segment_headlines_quote_its_tables(referrals):
    finding = published("segment", referrals, variables=["age", "prior_referrals", "disability", "referral_source"],
                        k_max=5, bootstrap=3)
    (line,) = [h for h in finding.headlines if re.match(rf"The {NUMBER} records fall into", h)]
    records, k, silhouette = re.search(rf"The ({NUMBER}) records fall into ({NUMBER}) segments .*silhouette width "
                                       rf"({NUMBER}) for k = ", line).groups()
    scores = rows(finding, "k_scores")
    chosen = one(finding, "k_scores", chosen="yes")
    assert n(k) == n(chosen["k"]) and silhouette == fmt_num(chosen["silhouette"], 2)
    others = re.search(rf"against ({NUMBER})–({NUMBER}) for the other k", line)
    if others:
        rest = [r["silhouette"] for r in scores if r["k"] != chosen["k"]]
        assert others.groups() == (fmt_num(min(rest), 2), fmt_num(max(rest), 2))
    segments = {r["segment"]: r for r in rows(finding, "segments")}
    assert n(records) == sum(r["n"] for r in segments.values())
    overall = {r["variable"]: r["mean"] for r in rows(finding, "variables")}
    described = [h for h in finding.headlines if h.startswith("Segment ")]
    assert len(described) == len(segments)
    for line in described:
        name, share = re.match(rf"Segment (\S+) \(({NUMBER})% of records\)", line).groups()
        segment = next(r for key, r in segments.items() if str(key) == name or str(key) == f"Segment {name}")
        assert share == f"{segment['share'] * 100:.0f}"
        for variable, mean, whole in re.findall(rf"(?:higher|lower) (\S+) \(mean ({NUMBER}) vs ({NUMBER}) overall\)", line):
            assert mean == fmt_num(segment[f"mean {variable}"]) and whole == fmt_num(overall[variable])
        for variable, category, share_in, share_all in re.findall(
                rf"more often (\S+) = (.+?) \(({NUMBER})% vs ({NUMBER})% overall\)", line):
            profile = [r for r in rows(finding, "category_profiles") if r["variable"] == variable
                       and r["category"] == category]
            mine = next(r for r in profile if str(r["segment"]) == str(segment["segment"]))
            assert share_in == f"{mine['share'] * 100:.0f}"
            assert share_all == f"{sum(r['n'] for r in profile) / n(records) * 100:.0f}"


# --------------------------------------------------------------------------- drivers


def test_drivers_headlines_quote_its_tables(referrals):
    finding = published("drivers", referrals, outcome="rereferred_12m", outcome_value="yes", bootstrap=50, repeats=2,
                        variables=["age", "prior_referrals", "disability", "closure_reason", "district"])
    model = one(finding, "model")
    auc = re.search(rf"\(AUC ({NUMBER}), 95% CI ({NUMBER}) to ({NUMBER}); 0.5 is chance\)", finding.headlines[0])
    assert auc.groups() == tuple(fmt_num(model[c], 2) for c in ("estimate", "ci_low", "ci_high"))
    importance = {r["variable"]: r for r in rows(finding, "importance")}
    coefficients = rows(finding, "coefficients")
    drivers = [h for h in finding.headlines if " associated with rereferred_12m" in h and "No clear" not in h]
    assert drivers
    for line in drivers:
        variable = line.split(" is ", 1)[0]
        row = importance[variable]
        assert row["associated"] == "yes"
        quoted = re.search(rf"(?:by|importance) ({NUMBER})% \(?(?:95% interval )?({NUMBER})% to ({NUMBER})%", line) or \
            re.search(rf"importance ({NUMBER})%, 95% interval ({NUMBER})% to ({NUMBER})%", line)
        assert quoted.groups() == tuple(fmt_num(row[c], 2) for c in ("importance", "ci_low", "ci_high"))
        assert f"adjusted {fmt_p(row['p_adjusted'])}" in line
        odds = re.search(rf"({NUMBER}) times the odds of rereferred_12m = yes \(95% CI ({NUMBER}) to ({NUMBER})\)", line)
        if odds:
            terms = [c for c in coefficients if c["variable"] == variable]
            assert odds.groups() in {tuple(fmt_num(c[k], 2) for k in ("odds_ratio", "or_low", "or_high")) for c in terms}
    (unclear,) = [h for h in finding.headlines if h.startswith("No clear association")]
    for variable, row in importance.items():
        assert (variable in unclear) == (row["associated"] == "no")


# --------------------------------------------------------------------------- risk


def _rule_wins_at_the_top(n: int = 8000, seed: int = 5) -> pl.DataFrame:
    """A flag marking a tenth of cases that nearly all have the outcome (the rule), and a number
    the model sees that ranks the rest: the model wins on AUC, the rule at the top 10%."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    flag = (rng.random(n) < 0.1).astype(int)
    p = np.where(flag == 1, 0.85, 1 / (1 + np.exp(-(-0.6 + 1.0 * x))))
    return pl.DataFrame({"x": x, "flag": flag, "y": np.where(rng.random(n) < p, "yes", "no")})


RISK_CASES = {
    "referrals": (lambda: generate(3000, seed=5), dict(
        outcome="rereferred_12m", outcome_value="yes", date="closure_date", id_column="referral_id",
        features=["district", "referral_source", "age", "prior_referrals"], protected=["sex"],
        rule="prior_referrals > 0", models=["logistic"], bootstrap=50)),
    "rule wins at the top": (_rule_wins_at_the_top, dict(
        outcome="y", outcome_value="yes", features=["x"], rule="flag > 0", models=["logistic"], bootstrap=50)),
}


@pytest.mark.parametrize("case", list(RISK_CASES))
def test_risk_headlines_quote_its_tables(case):
    make, params = RISK_CASES[case]
    finding = published("risk", make(), **params)
    rule_name = f"rule: {params['rule']}"
    perf = {r["method"]: r for r in rows(finding, "performance")}
    model, rule = perf["logistic regression"], perf[rule_name]
    (line,) = starting(finding, "On ")
    held_out = one(finding, "held_out")
    assert n(re.match(rf"On ({NUMBER}) (?:later|held-out) records", line).group(1)) == held_out["records"]
    auc = re.search(rf"AUC ({NUMBER}) \(95% CI ({NUMBER})–({NUMBER})\); the simple rule \((.+?)\) reaches ({NUMBER})",
                    line)
    assert auc.groups() == (f"{model['auc']:.2f}", f"{model['auc_low']:.2f}", f"{model['auc_high']:.2f}",
                            params["rule"], f"{rule['auc']:.2f}")
    (line,) = starting(finding, "Ranking all records, the model is ")
    difference = re.search(r"AUC difference ([+-][\d.]+), 95% CI ([+-][\d.]+) to ([+-][\d.]+)\)", line).groups()
    assert float(difference[0]) == pytest.approx(model["auc"] - rule["auc"], abs=0.0051)
    assert ("is better than" in line) == (float(difference[1]) > 0)

    def at_top(method: str, column: str) -> float | None:
        cells = rows(finding, "capacity", method=method, capacity="top 10%")
        return cells[-1][column]  # the capacity's figures sit on its last band's row

    mine, theirs = at_top("logistic regression", "recall"), at_top(rule_name, "recall")
    quoted = re.search(rf"\(({NUMBER})% against the (model's|rule's) ({NUMBER})%\)", line)
    if theirs is None or mine is None:
        assert quoted is None  # a suppressed recall is not compared in words
    else:
        assert quoted is not None, line
        first, whose, second = quoted.groups()
        if theirs > mine:
            assert "but reviewing the top 10% of records by risk, the simple rule catches more" in line
            assert whose == "model's" and float(first) > float(second)
            assert (first, second) == (as_shown(first, theirs), as_shown(second, mine))
        else:
            assert "the model also catches more" in line or "the model catches more" in line
            assert whose == "rule's" and float(first) >= float(second)
            assert (first, second) == (as_shown(first, mine), as_shown(second, theirs))
    if case == "rule wins at the top":
        assert quoted is not None and theirs > mine  # the case the issue found
    (line,) = starting(finding, "If the team can review the top 10% of records by risk")
    caught = re.search(rf"the model catches ({NUMBER})% of those .*? with precision ({NUMBER})%", line)
    assert caught.groups() == (f"{mine * 100:.0f}", f"{at_top('logistic regression', 'precision') * 100:.0f}")
    simple = re.search(rf"the simple rule catches ({NUMBER})% with precision ({NUMBER})%", line)
    if theirs is None:
        assert simple is None
    else:
        assert simple.groups() == (f"{theirs * 100:.0f}", f"{at_top(rule_name, 'precision') * 100:.0f}")


# --------------------------------------------------------------------------- text


def test_text_headlines_quote_its_tables():
    finding = published("text", generate(2500, seed=21), text=["referral_note"], outcome="rereferred_12m",
                        outcome_value="yes", cv_folds=3, terms=30)
    lengths = rows(finding, "lengths")
    line = finding.headlines[0]
    assert n(re.match(rf"({NUMBER}) documents from referral_note", line).group(1)) == sum(r["documents"] for r in lengths)
    terms = rows(finding, "terms", group="yes")
    (typical,) = starting(finding, "Terms most typical of rereferred_12m = yes: ")
    quoted = re.findall(rf"'([^']+)' \(({NUMBER})% of its documents against ({NUMBER})% of the others\)", typical)
    assert quoted
    for term, share, other in quoted:
        row = next(r for r in terms if r["term"] == term)
        assert (share, other) == (f"{row['share'] * 100:.0f}", f"{row['other_share'] * 100:.0f}")
    topics = rows(finding, "topics")
    (line,) = starting(finding, "The documents fall into ")
    k, top, share = re.match(rf"The documents fall into ({NUMBER}) topics; the most common \('(.+)'\) is the main topic "
                             rf"of ({NUMBER})% of documents", line).groups()
    assert n(k) == len(topics)
    biggest = max(topics, key=lambda r: r["docs"] or 0)
    assert top == biggest["top_terms"] and share == f"{biggest['share'] * 100:.0f}"
    assert share == f"{biggest['docs'] / sum(r['docs'] for r in topics) * 100:.0f}"
    for line in [h for h in finding.headlines if h.startswith("Topic '")]:
        topic, a, group_a, b, group_b = re.match(
            rf"Topic '(.+)' takes ({NUMBER})% of the topic weight of rereferred_12m = (\S+) against ({NUMBER})% of "
            rf"rereferred_12m = (\S+)\.", line).groups()
        prevalence = {(r["group"], r["topic"]): r["prevalence"] for r in rows(finding, "topic_prevalence")}
        number = next(r["topic"] for r in topics if r["top_terms"] == topic)
        assert a == f"{prevalence[(group_a, number)] * 100:.0f}" and b == f"{prevalence[(group_b, number)] * 100:.0f}"
    (line,) = starting(finding, "The text alone separates")
    assert re.search(rf"AUC of ({NUMBER})", line).group(1) == f"{finding.metrics['text_only_auc']:.2f}"


# --------------------------------------------------------------------------- hotspots


def test_hotspots_headlines_quote_its_tables():
    cls = get_step("hotspots")
    frame, params = cls.example()
    finding = published("hotspots", frame.collect(), **params)
    spots = rows(finding, "hot_spots")
    (line,) = starting(finding, "The leading hot spot, ")
    name, cells, events, hot, months = re.search(
        rf"The leading hot spot, (\S+) .*: ({NUMBER}) cells, ({NUMBER}) events, hot in ({NUMBER}) of ({NUMBER}) months",
        line).groups()
    spot = next(r for r in spots if r["hot_spot"] == name)
    assert (n(cells), n(events), n(hot)) == (spot["cells"], spot["events"], spot["hot_periods"])
    assert spot["events"] == max(r["events"] for r in spots if r["class"] == spot["class"])
    easting, northing = re.search(rf"easting ({NUMBER}), northing ({NUMBER})", line).groups()
    assert (n(easting), n(northing)) == (round(spot["easting"], -1), round(spot["northing"], -1)) or \
        (n(easting), n(northing)) == (spot["easting"], spot["northing"])
    (line,) = [h for h in finding.headlines if "persistent hot spot" in h and h[0].isdigit()]
    persistent = re.match(rf"({NUMBER}) persistent hot spots?", line).group(1)
    assert n(persistent) == sum(r["class"].startswith("persistent") for r in spots)
    intermittent = re.search(rf"({NUMBER}) intermittent hot spots?", line)
    if intermittent:
        assert n(intermittent.group(1)) == sum(r["class"].startswith("intermittent") for r in spots)
    (line,) = starting(finding, "By area (")
    areas = rows(finding, "areas")
    count = re.search(rf"({NUMBER}) intermittent", line)
    if count:
        assert n(count.group(1)) == sum(r["class"].startswith("intermittent") for r in areas)
    (line,) = starting(finding, "The events fall in ")
    assert n(re.match(rf"The events fall in ({NUMBER}) cells", line).group(1)) >= sum(r["cells"] for r in spots)


# --------------------------------------------------------------------------- forecast


def test_forecast_headlines_quote_its_tables():
    cls = get_step("forecast")
    frame, params = cls.example()
    finding = published("forecast", frame.collect(), **params)
    series, backtest = rows(finding, "series"), rows(finding, "backtest")
    units = {r["unit"] for r in series}
    per_unit = [h for h in finding.headlines if any(h.startswith(f"{u}: ") for u in units)]
    assert len(per_unit) == len(units)
    for line in per_unit:
        unit = line.split(": ", 1)[0]
        mase, naive = re.search(rf"\(MASE ({NUMBER}) against ({NUMBER}) for the seasonal naive\)", line).groups()
        chosen = next(r for r in backtest if r["unit"] == unit and r["chosen"] in ("yes", True))
        seasonal = next(r for r in backtest if r["unit"] == unit and r["model"] == "seasonal_naive")
        assert (mase, naive) == (f"{chosen['mase']:.2f}", f"{seasonal['mase']:.2f}")
        expected, months, last, change = re.search(
            rf"({NUMBER}) expected over the next ({NUMBER}) months against ({NUMBER}) in the last \d+ \(([+-]{NUMBER[1:]})%\)",
            line).groups()
        mine = [r for r in series if r["unit"] == unit]
        ahead = [r["forecast"] for r in mine if r["forecast"] is not None and r["actual"] is None]
        history = [r["actual"] for r in mine if r["actual"] is not None][-int(n(months)):]
        assert len(ahead) == n(months)
        assert n(expected) == pytest.approx(sum(ahead), abs=0.5)
        assert n(last) == pytest.approx(sum(history), abs=0.5)
        assert float(change) == pytest.approx(round((sum(ahead) / sum(history) - 1) * 100, 1), abs=0.051)
    (line,) = starting(finding, "In the backtests the 95% prediction intervals held ")
    held = re.search(rf"held ({NUMBER})% of the actual", line).group(1)
    chosen = [r for r in backtest if r["chosen"] in ("yes", True)]
    coverage = [r["coverage95"] for r in chosen]
    assert n(held) in {round(min(coverage) * 100), round(max(coverage) * 100),
                       round(float(np.mean(coverage)) * 100)}


# --------------------------------------------------------------------------- benchmark


def test_benchmark_headlines_quote_its_tables(referrals):
    finding = published("benchmark", referrals, unit="district", outcome="rereferred_12m", outcome_value="yes")
    units = rows(finding, "units")
    (line,) = [h for h in finding.headlines if "compared on" in h]
    k, rate, events, total = re.search(rf"({NUMBER}) units .* overall ({NUMBER})% \(({NUMBER}) of ({NUMBER})\)",
                                       line).groups()
    assert n(k) == len(units)
    assert (n(events), n(total)) == (sum(r["events"] for r in units), sum(r["denominator"] for r in units))
    assert rate == f"{n(events) / n(total) * 100:.1f}"
    outside = [r for r in units if r["rate"] is not None and not (r["lower998"] <= r["rate"] <= r["upper998"])]
    if not outside:
        assert "No unit lies outside the 99.8% limits." in finding.headlines
    else:
        for r in outside:
            assert any(str(r["unit"]) in h for h in finding.headlines[1:])
    assert all(math.isfinite(r["rate"]) for r in units if r["rate"] is not None)
