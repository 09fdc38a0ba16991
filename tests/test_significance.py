"""`significance`: tests that agree with SciPy and statsmodels, and disclosure control that holds
against a reader of everything the finding publishes: small groups, rare categories, and the
issue's case of four 'Other' gender records hiding every Female arrest figure."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from expedition.config import DisclosureConfig
from expedition.disclosure import apply
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.significance import STATISTICS, Significance
from expedition.testing import attack, publish

RULES = DisclosureConfig(min_count=10)
CTX = StepContext(seed=1, disclosure=RULES)


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as the step returns it, before the disclosure gate."""
    return Significance().run(data.lazy(), Significance.parse_params(params), ctx)


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as it is published: through the gate, its charts drawn."""
    return publish(raw(data, ctx, **params), ctx.disclosure)


def rows(finding) -> dict[str, dict]:
    return {r["variable"]: r for r in finding.tables["tests"].frame.iter_rows(named=True)}


def attacked(*findings, rules: DisclosureConfig = RULES) -> list[str]:
    return attack([f.with_(id=f.id or f"f{i}", population=f.population or "data@1") for i, f in enumerate(findings)],
                  rules)


@pytest.fixture(scope="module")
def referrals():
    from expedition.examples.referrals import generate

    return generate(4000, seed=5)


# --------------------------------------------------------------------------- the tests


def test_finds_the_planted_differences_and_not_the_null_ones(referrals):
    finding = run(referrals, group="rereferred_12m", group_value="yes")
    tests = rows(finding)
    for planted in ("prior_referrals", "age", "closure_reason", "disability"):
        assert tests[planted]["significant"] == "yes", planted
    for null in ("sex", "ethnicity"):
        assert tests[null]["significant"] == "no", null
    text = " ".join(finding.headlines)
    assert "cause" not in text
    assert "No difference across rereferred_12m was detected for" in text
    assert "sex" in finding.headlines[-1] and "ethnicity" in finding.headlines[-1]
    assert any("association" in c and "cause" in c for c in finding.caveats)
    # the 2x2 table gets the two-proportion z-test with a risk difference and ratio
    assert tests["disability"]["test"] == "two-proportion z-test"
    effects = finding.tables["effect_sizes"].frame.filter(pl.col("variable") == "disability")
    assert effects["measure"].to_list() == ["risk difference", "risk ratio"]
    assert any("share with rereferred_12m = yes is higher where disability is Yes" in h for h in finding.headlines)
    assert attacked(raw(referrals, group="rereferred_12m", group_value="yes")) == []


def test_numbers_agree_with_scipy_on_the_same_split(referrals):
    finding = raw(referrals, group="rereferred_12m", variables=["age", "prior_referrals", "district"],
                  tests={"age": "welch", "prior_referrals": "mann-whitney"})
    tests = rows(finding)
    yes = referrals.filter(pl.col("rereferred_12m") == "yes")
    no = referrals.filter(pl.col("rereferred_12m") == "no")
    t = sps.ttest_ind(yes["age"].to_numpy(), no["age"].to_numpy(), equal_var=False)
    assert tests["age"]["statistic"] == pytest.approx(t.statistic)
    assert tests["age"]["p_value"] == pytest.approx(t.pvalue)
    assert tests["age"]["df"] == pytest.approx(t.df)
    u = sps.mannwhitneyu(yes["prior_referrals"].to_numpy(), no["prior_referrals"].to_numpy())
    assert tests["prior_referrals"]["statistic"] == pytest.approx(u.statistic)
    assert tests["prior_referrals"]["p_value"] == pytest.approx(u.pvalue)
    from scipy.stats.contingency import crosstab

    counts = crosstab(referrals["district"].to_list(), referrals["rereferred_12m"].to_list()).count
    chi = sps.chi2_contingency(counts, correction=False)
    assert tests["district"]["statistic"] == pytest.approx(chi.statistic)
    assert tests["district"]["df"] == chi.dof
    assert tests["district"]["n"] == referrals.height
    assert tests["district"]["smallest_n"] == counts.min()
    # Holm across the three tests, as statsmodels
    from statsmodels.stats.multitest import multipletests

    p = [tests[v]["p_value"] for v in ("age", "prior_referrals", "district")]
    assert [tests[v]["p_adjusted"] for v in ("age", "prior_referrals", "district")] == pytest.approx(
        list(multipletests(p, method="holm")[1])
    )
    bh = rows(raw(referrals, group="rereferred_12m", variables=["age", "prior_referrals", "district"],
                  tests={"age": "welch", "prior_referrals": "mann-whitney"}, correction="bh"))
    assert [bh[v]["p_adjusted"] for v in ("age", "prior_referrals", "district")] == pytest.approx(
        list(multipletests(p, method="fdr_bh")[1])
    )


def test_several_groups_use_anova_or_kruskal(referrals):
    finding = raw(referrals, group="district", variables=["age", "prior_referrals"])
    tests = rows(finding)
    assert tests["age"]["test"] in {"one-way ANOVA", "Welch's ANOVA"}
    assert tests["prior_referrals"]["test"] == "Kruskal–Wallis test"  # skewed counts
    groups = [referrals.filter(pl.col("district") == d)["prior_referrals"].to_numpy()
              for d in sorted(referrals["district"].unique())]
    assert tests["prior_referrals"]["statistic"] == pytest.approx(sps.kruskal(*groups).statistic)
    means = finding.tables["numeric_groups"].frame.filter(pl.col("variable") == "age")
    assert means["group"].to_list() == sorted(referrals["district"].unique())  # alphabetical, not by size
    for row in means.iter_rows(named=True):
        ages = referrals.filter(pl.col("district") == row["group"])["age"].to_numpy()
        assert row["n"] == len(ages) and row["mean"] == pytest.approx(ages.mean())


def test_overrides_are_checked():
    data = pl.DataFrame({"g": ["a", "b"] * 50, "x": np.arange(100.0), "c": ["u", "v", "w", "z"] * 25})
    with pytest.raises(StepError, match="does not fit 'x'"):
        run(data, group="g", tests={"x": "chi-square"})
    with pytest.raises(StepError, match="did you mean 'x'"):
        run(data, group="g", tests={"xx": "welch"})
    with pytest.raises(StepError, match="needs two categories"):
        run(data, group="g", tests={"c": "two-proportion"})
    with pytest.raises(StepError, match="unknown parameter 'test'"):
        Significance.parse_params({"group": "g", "test": {}})
    with pytest.raises(StepError, match="parameter 'group' is required"):
        Significance.parse_params({})
    with pytest.raises(StepError, match="did you mean 'g'"):
        run(data, group="gg")


def test_nothing_to_find_is_said_plainly():
    rng = np.random.default_rng(0)
    data = pl.DataFrame({"g": rng.choice(["a", "b"], 400), "x": rng.normal(size=400), "c": rng.choice(["u", "v"], 400)})
    finding = run(data, group="g")
    assert finding.metrics["significant"] == 0
    assert "0 differ at the 0.05 level" in finding.headlines[0]
    assert "does not show that there is none" in finding.headlines[-1]
    assert len(finding.headlines) == 2


def test_awkward_data_gets_caveats_not_crashes():
    rng = np.random.default_rng(1)
    n = 300
    group = np.where(np.arange(n) == 0, "lonely", rng.choice(["a", "b"], n))
    data = pl.DataFrame(
        {
            "g": group,
            "constant": np.ones(n),
            "empty": pl.Series([None] * n, dtype=pl.Float64),
            "extreme": np.where(np.arange(n) < 3, 1e300, rng.normal(size=n)),
            "infinite": np.where(np.arange(n) < 5, np.inf, rng.normal(size=n)),
            "many": [f"level {i}" for i in rng.integers(0, 10_000, n)],
            "x": rng.normal(size=n),
        }
    )
    finding = run(data, group="g", variables=["constant", "empty", "extreme", "infinite", "many", "x"])
    text = " ".join(finding.caveats)
    assert "only one value): constant" in text
    assert "all values missing): empty" in text
    assert "infinite or not-a-number" in text
    assert "'Other'" in text  # 10,000 possible levels: the most common kept, the rest grouped
    assert "x: 1 group with fewer than two values is left out of its test." in text
    assert "lonely" not in text  # a group of one record is not named as one
    tests = rows(finding)
    assert tests["extreme"]["test"] == "Mann–Whitney U test"  # extreme values: a rank test
    for row in tests.values():
        assert row["p_value"] is None or 0 <= row["p_value"] <= 1


def test_unusable_groups_are_clear_errors():
    with pytest.raises(StepError, match="only one value"):
        run(pl.DataFrame({"g": ["a"] * 20, "x": np.arange(20.0)}), group="g")
    with pytest.raises(StepError, match="at most 20"):
        run(pl.DataFrame({"g": [str(i) for i in range(100)], "x": np.arange(100.0)}), group="g")
    with pytest.raises(StepError, match="group_value 'maybe'"):
        run(pl.DataFrame({"g": ["a", "b"] * 10, "x": np.arange(20.0)}), group="g", group_value="maybe")
    with pytest.raises(StepError, match="no rows"):
        run(pl.DataFrame({"g": pl.Series([], dtype=pl.String), "x": pl.Series([], dtype=pl.Float64)}), group="g")


def test_the_reasons_describe_no_groups_size():
    rng = np.random.default_rng(2)
    data = pl.DataFrame({"g": ["big"] * 200 + ["small"] * 12, "x": rng.normal(size=212)})
    reason = rows(raw(data, group="g"))["x"]["reason"]
    assert "n =" not in reason and "12" not in reason and "Shapiro–Wilk p" not in reason


# --------------------------------------------------------------------------- disclosure


def test_a_small_groups_figures_are_suppressed_and_not_quoted():
    """Its count, mean and interval go with its count; so do the test's difference and effect
    sizes, from which its mean would follow beside the other group's."""
    rng = np.random.default_rng(2)
    group = np.array(["big"] * 200 + ["tiny"] * 6)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 1, 6)])
    finding = run(pl.DataFrame({"g": group, "x": x}), group="g")
    means = finding.tables["numeric_groups"].frame.filter(pl.col("group") == "tiny").row(0, named=True)
    assert means["n"] is None and means["mean"] is None and means["ci_high"] is None
    test = rows(finding)["x"]
    assert test["significant"] == "yes"
    assert all(test[c] is None for c in STATISTICS) and test["smallest_n"] is None
    effects = finding.tables["effect_sizes"].frame
    assert effects["estimate"].null_count() == effects.height  # the difference in means is there too
    assert all("tiny" not in h for h in finding.headlines)
    assert any("x differs across g" in h and "adjusted p below 0.05" in h for h in finding.headlines)
    assert attacked(raw(pl.DataFrame({"g": group, "x": x}), group="g")) == []


def test_a_small_category_is_suppressed_with_the_tests_that_rest_on_it():
    rng = np.random.default_rng(3)
    n = 600
    c = np.where(np.arange(n) < 4, "rare", rng.choice(["u", "v"], n))
    g = np.where(c == "rare", "yes", rng.choice(["yes", "no"], n, p=[0.3, 0.7]))
    finding = run(pl.DataFrame({"g": g, "c": c}), group="g", group_value="yes")
    cross = finding.tables["crosstab"].frame
    assert cross.filter(pl.col("category") == "rare")["n"].to_list() == [None, None]
    assert rows(finding)["c"]["smallest_category"] == "rare" and rows(finding)["c"]["statistic"] is None
    assert all(v is None or v >= 10 for v in cross["n"].to_list())
    assert attacked(raw(pl.DataFrame({"g": g, "c": c}), group="g", group_value="yes")) == []


def test_groups_and_categories_are_listed_in_an_order_that_tells_nothing():
    data = pl.DataFrame({"g": ["zeta"] * 300 + ["alpha"] * 20 + ["mid"] * 100,
                         "c": (["q", "b", "k"] * 140)[:420], "x": np.arange(420.0)})
    finding = raw(data, group="g")
    assert finding.tables["numeric_groups"].frame["group"].to_list() == ["alpha", "mid", "zeta"]
    cross = finding.tables["crosstab"].frame
    assert cross["category"].unique(maintain_order=True).to_list() == ["b", "k", "q"]
    # the described value first, then the others together
    described = raw(data, group="g", group_value="mid")
    assert described.tables["numeric_groups"].frame["group"].to_list() == ["mid", "other than mid"]


def test_group_value_of_a_many_valued_group_is_compared_with_all_the_others():
    """The issue's case: Outcome has several values and group_value names one; the step compares
    that value with all the others together, and says so (it used to test every value)."""
    rng = np.random.default_rng(21)
    n = 3000
    outcome = rng.choice(["Arrest", "No further action", "Caution", "Community resolution"], n,
                         p=[0.15, 0.6, 0.1, 0.15])
    arrest = outcome == "Arrest"
    age = rng.normal(30, 8, n) + 3 * arrest
    gender = np.where(rng.random(n) < np.where(arrest, 0.9, 0.8), "Male", "Female")
    data = pl.DataFrame({"Outcome": outcome, "age": age, "Gender": gender})
    finding = raw(data, group="Outcome", group_value="Arrest", variables=["age", "Gender"],
                  tests={"age": "welch"})
    tests = rows(finding)
    # age: Welch's t-test of Arrest against the rest, as SciPy
    t = sps.ttest_ind(age[arrest], age[~arrest], equal_var=False)
    assert tests["age"]["test"].startswith("Welch")
    assert tests["age"]["statistic"] == pytest.approx(t.statistic)
    assert tests["age"]["p_value"] == pytest.approx(t.pvalue)
    assert tests["age"]["df"] == pytest.approx(t.df)
    # Gender: a 2x2 table of Gender by (Arrest, not Arrest), as SciPy's chi-square without correction
    table = np.array([[np.sum((gender == g) & arrest), np.sum((gender == g) & ~arrest)] for g in ("Male", "Female")])
    chi = sps.chi2_contingency(table, correction=False)
    assert tests["Gender"]["test"] == "two-proportion z-test"
    assert tests["Gender"]["statistic"] ** 2 == pytest.approx(chi.statistic)
    assert tests["Gender"]["p_value"] == pytest.approx(chi.pvalue)
    assert finding.tables["numeric_groups"].frame["group"].to_list() == ["Arrest", "other than Arrest"]
    cross = finding.tables["crosstab"].frame.filter(pl.col("variable") == "Gender")
    assert dict(zip(zip(cross["category"], cross["group"]), cross["n"])) == {
        ("Female", "Arrest"): table[1, 0], ("Female", "other than Arrest"): table[1, 1],
        ("Male", "Arrest"): table[0, 0], ("Male", "other than Arrest"): table[0, 1]}
    assert finding.metrics["groups"] == 2
    # and it says so, in the first headline and a caveat naming the values taken together
    shown = publish(finding.with_(id="arrests", population="stops"), RULES)
    assert shown.headlines[0].startswith("Arrest compared with all 3 other values of Outcome together")
    assert any("Arrest is compared with the other 3 together (shown as 'other than Arrest': Caution, "
               "Community resolution and No further action)" in c for c in shown.caveats)
    assert attacked(finding) == []
    # a two-valued group is compared as before: its two values
    two = raw(data.filter(pl.col("Outcome").is_in(["Arrest", "Caution"])), group="Outcome",
              group_value="Arrest", variables=["age"])
    assert two.tables["numeric_groups"].frame["group"].to_list() == ["Arrest", "Caution"]
    # without group_value every value is compared
    every = raw(data, group="Outcome", variables=["age"])
    assert every.metrics["groups"] == 4
    assert rows(every)["age"]["test"] in {"one-way ANOVA", "Welch's ANOVA", "Kruskal–Wallis test"}


def test_group_value_lifts_the_limit_on_the_number_of_groups():
    rng = np.random.default_rng(3)
    data = pl.DataFrame({"g": [f"unit {i}" for i in rng.integers(0, 30, 1500)], "x": rng.normal(size=1500)})
    with pytest.raises(StepError, match="set group_value to compare one value with all the others"):
        raw(data, group="g")
    finding = raw(data, group="g", group_value="unit 7")
    assert finding.tables["numeric_groups"].frame["group"].to_list() == ["unit 7", "other than unit 7"]


def test_the_group_is_recoded_only_when_no_value_is_described():
    columns = ["Outcome", "Gender"]
    described = Significance.parse_params({"group": "Outcome", "group_value": "Arrest"})
    assert Significance.recode_columns(described, columns) == ["Gender"]
    assert Significance.recode_keep(described) == ["Arrest"]
    every = Significance.parse_params({"group": "Outcome"})
    assert Significance.recode_columns(every, columns) == ["Outcome", "Gender"]


def test_the_charts_mark_suppressed_values():
    rng = np.random.default_rng(2)
    rules = DisclosureConfig(min_count=10, symbol="§")
    data = pl.DataFrame({"g": ["big"] * 200 + ["tiny"] * 6 + ["other"] * 80,
                         "x": rng.normal(size=286), "y": rng.normal(size=286)})
    finding = run(data, StepContext(seed=1, disclosure=rules), group="g")
    hidden = finding.tables["numeric_groups"].frame["mean"].null_count()
    assert hidden >= 2
    svg = finding.figures["group_means"].svg.decode()
    assert svg.count("§") == hidden + 1  # a mark per suppressed group, and the note
    assert "effects" in finding.figures


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    small=st.integers(1, 9),
    rare=st.integers(1, 9),
    missing=st.integers(0, 12),
    min_count=st.integers(5, 12),
    seed=st.integers(0, 10_000),
)
def test_planted_small_groups_cannot_be_read_from_anything_published(small, rare, missing, min_count, seed):
    """A group and a category too small to publish, and some missing values: no published table
    cell, sentence or metric shows them, and the auditor pins none from the rest."""
    small, rare = 1 + (small - 1) % (min_count - 1), 1 + (rare - 1) % (min_count - 1)
    rng = np.random.default_rng(seed)
    n = 500
    group = rng.choice(["Alpha", "Beta"], n).astype(object)
    group[:small] = "Planted"
    x = rng.normal(10, 2, n) + np.where(group == "Beta", 1.5, 0.0)
    c = rng.choice(["u", "v", "w"], n).astype(object)
    c[n - rare:] = "Scarce"
    data = pl.DataFrame({"g": group.tolist(), "x": x, "c": c.tolist()}).with_columns(
        pl.when(pl.int_range(pl.len()).is_between(50, 50 + missing, closed="left")).then(None)
        .otherwise(pl.col("x")).alias("x")
    )
    rules = DisclosureConfig(min_count=min_count)
    finding = raw(data, StepContext(seed=1, disclosure=rules), group="g")
    assert attacked(finding, rules=rules) == []
    published, _ = apply(finding, rules)
    assert not any("Planted" in h or "Scarce" in h for h in published.headlines)
    planted = published.tables["numeric_groups"].frame.filter(pl.col("group") == "Planted")
    assert planted["n"].to_list() == [None] and planted["mean"].to_list() == [None]
    scarce = published.tables["crosstab"].frame.filter(pl.col("category") == "Scarce")["n"].to_list()
    assert all(v is None or v == 0 for v in scarce)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    small=st.integers(1, 9),
    rare=st.integers(1, 9),
    missing=st.integers(0, 14),
    no_group=st.integers(0, 14),
    min_count=st.integers(5, 12),
    recode=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_eda_and_significance_of_the_same_records_give_nothing_away_together(
    small, rare, missing, no_group, min_count, recode, seed
):
    """A reader holding both findings of one dataset (as a pack publishes them) combines the
    category counts, missing values and outcome rates of eda with the groups of significance:
    the auditor still pins no suppressed count, with or without the runner's recoding."""
    from expedition.disclosure.recode import recode_labels
    from expedition.steps.eda import EDA

    small, rare = 1 + (small - 1) % (min_count - 1), 1 + (rare - 1) % (min_count - 1)
    rng = np.random.default_rng(seed)
    n = 500
    group = rng.choice(["Alpha", "Beta"], n).astype(object)
    group[:small] = "Planted"
    group[n - 20 - no_group:n - 20] = None
    c = rng.choice(["u", "v", "w"], n).astype(object)
    c[n - rare:] = "Scarce"
    data = pl.DataFrame({
        "g": group.tolist(), "x": rng.normal(10, 2, n), "c": c.tolist(),
        "o": np.where(rng.random(n) < 0.3, "yes", "no").tolist(),
    }).with_columns(
        pl.when(pl.int_range(pl.len()).is_between(50, 50 + missing, closed="left")).then(None)
        .otherwise(pl.col("x")).alias("x")
    )
    rules = DisclosureConfig(min_count=min_count)
    if recode:
        data, _ = recode_labels(data, ["g", "c", "o"], min_count, keep=["yes"])
    ctx = StepContext(seed=1, disclosure=rules)
    eda = EDA().run(data.lazy(), EDA.parse_params({"outcome": "o", "outcome_value": "yes"}), ctx)
    sig = raw(data, ctx, group="g")
    assert attack([eda.with_(id="eda", population="p@1"), sig.with_(id="sig", population="p@1")], rules) == []


# --------------------------------------------------------------------------- through the runner


def met_like() -> pl.DataFrame:
    """The shape of the Met's December 2018 stop and search: about 14,000 searches of men, 1,000
    of women, 4 'Other' (3 no further action, 1 arrest) and some with no gender recorded."""
    outcomes = ["A no further action disposal", "Arrest", "Community resolution",
                "Penalty Notice for Disorder", "Summons / charged by post"]
    counts = {
        "Male": [10_080, 2_240, 1_220, 330, 130],
        "Female": [750, 140, 80, 20, 10],
        "Other": [3, 1, 0, 0, 0],
        None: [120, 40, 14, 4, 2],
    }
    gender, outcome = [], []
    for g, per_outcome in counts.items():
        for o, k in zip(outcomes, per_outcome):
            gender += [g] * k
            outcome += [o] * k
    ages = np.random.default_rng(12).choice(["10-17", "18-24", "25-34", "over 34"], len(gender))
    return pl.DataFrame({"Gender": gender, "Age range": ages.tolist(), "Outcome": outcome})


def project_with(cli, tmp_path: Path, csv: Path, recode: bool, extra: str = "") -> Path:
    """A scaffolded expedition with *csv* added, its contract drafted, validated and run."""
    from expedition.scaffold import new_project

    root = new_project("stops", output_dir=tmp_path, no_input=True, today=date(2026, 11, 24))
    assert cli("data", "add", str(csv), "--name", "stops", "-q", "-p", str(root)).exit_code == 0
    config = root / "expedition.yaml"
    config.write_text(config.read_text().replace(
        "steps: []",
        "steps:\n"
        "  - id: arrests\n    step: significance\n    dataset: stops\n"
        f"    recode: {'true' if recode else 'false'}\n"
        "    params: {group: Outcome, group_value: Arrest, variables: [Gender, Age range]}\n"
        "  - id: overview\n    step: eda\n    dataset: stops\n"
        f"    recode: {'true' if recode else 'false'}\n" + extra,
    ))
    assert cli("schema", "infer", "stops", "-q", "-p", str(root)).exit_code == 0
    assert cli("validate", "-q", "-p", str(root)).exit_code == 0
    result = cli("run", "-q", "-p", str(root))
    assert result.exit_code == 0, result.output
    return root


def female(root: Path) -> tuple[dict[str, int | None], int | None, list]:
    """The published Female row of the Gender by outcome crosstab, the published number of
    Female records in eda's categories, and the stored (ungated) findings."""
    from expedition.project import Project
    from expedition.runner import publish_finding, stored_findings

    project = Project.load(root)
    found = {f.id: f for f in stored_findings(project)}
    arrests = publish_finding(project, found["arrests"]).tables["crosstab"].frame
    row = arrests.filter((pl.col("variable") == "Gender") & (pl.col("category") == "Female"))
    categories = publish_finding(project, found["overview"]).tables["categories"].frame
    total = categories.filter((pl.col("variable") == "Gender") & (pl.col("category") == "Female"))["n"].to_list()
    return dict(zip(row["group"].to_list(), row["n"].to_list())), total[0], list(found.values())


def packed_female(cli, root: Path) -> dict[str, str]:
    """Build and verify the findings pack; the Female row of its Gender by outcome CSV."""
    import json

    built = cli("pack", "--json", "-p", str(root))
    assert built.exit_code == 0, built.output
    pack = Path(json.loads(built.stdout)["path"])
    verified = cli("pack", "verify", str(pack), "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"], verified.stdout
    table = pl.read_csv(pack / "tables" / "arrests__crosstab.csv", infer_schema_length=0)
    row = table.filter((pl.col("variable") == "Gender") & (pl.col("category") == "Female"))
    return dict(zip(row["group"].to_list(), row["n"].to_list()))


def test_four_other_gender_records_no_longer_hide_the_female_figures(cli, tmp_path):
    """The issue's case, through `expedition run`: recoding combines the 4 'Other' records
    before tabulating (too few even together: treated as not recorded), and the Female and
    Male counts are published; without recoding, suppressing them costs Female figures."""
    csv = tmp_path / "stops.csv"
    met_like().write_csv(csv)
    recoded = project_with(cli, tmp_path / "recoded", csv, recode=True)
    row, total, findings = female(recoded)
    # group_value: Arrest against the other four outcomes together
    assert row == {"Arrest": 140, "other than Arrest": 750 + 80 + 20 + 10}
    assert total == 1_000
    assert attack(findings, DisclosureConfig(min_count=10)) == []
    arrests = next(f for f in findings if f.id == "arrests")
    assert "Other" not in arrests.tables["crosstab"].frame["category"].to_list()
    assert arrests.provenance["recoded"] == [{"column": "Gender", "categories": 1, "combined": False}]
    # The pack gates every finding together, and `pack verify` audits it again from its files:
    # the large Female counts stay; the penalty-notice and summons cells may go, as beside eda's
    # counts by outcome they would give away the few searches with no gender in those outcomes.
    packed = packed_female(cli, recoded)
    assert packed == {"Arrest": "140", "other than Arrest": "860"}
    arrests_test = {r["variable"]: r for r in arrests.tables["tests"].frame.iter_rows(named=True)}["Gender"]
    table = np.array([[2_240, 10_080 + 1_220 + 330 + 130], [140, 860]])  # Male, Female by Arrest, not
    chi = sps.chi2_contingency(table, correction=False)
    assert arrests_test["statistic"] ** 2 == pytest.approx(chi.statistic)
    assert arrests_test["p_value"] == pytest.approx(chi.pvalue)

    as_is = project_with(cli, tmp_path / "as-is", csv, recode=False)
    row, total, findings = female(as_is)
    assert total is None  # hidden to protect the 4 'Other' records
    assert None in row.values()
    assert attack(findings, DisclosureConfig(min_count=10)) == []


def test_the_described_group_value_is_never_recoded(cli, tmp_path):
    rng = np.random.default_rng(13)
    n = 400
    frame = pl.DataFrame({
        "Outcome": ["Arrest"] * 6 + rng.choice(["Released", "Warned"], n - 6).tolist(),
        "Gender": rng.choice(["Male", "Female"], n).tolist(),
        "Age range": rng.choice(["10-17", "18-24"], n).tolist(),
    })
    csv = tmp_path / "few.csv"
    frame.write_csv(csv)
    root = project_with(cli, tmp_path / "p", csv, recode=True)
    from expedition.project import Project
    from expedition.runner import stored_findings

    arrests = next(f for f in stored_findings(Project.load(root)) if f.id == "arrests")
    groups = arrests.tables["crosstab"].frame["group"].unique().to_list()
    assert "Arrest" in groups  # 6 records, but the value the step describes
    assert Significance.recode_keep(Significance.parse_params({"group": "g", "group_value": "Arrest"})) == ["Arrest"]


def test_the_met_file_keeps_its_female_arrest_figures(cli, tmp_path, shared_data):
    """The real December 2018 file: 4 'Other' gender records (and 2 'under 10' ages) are
    recoded, and the Female counts of Arrest and of the other outcomes together are published,
    with the test of Arrest against the rest as SciPy's."""
    csv = shared_data / "police-met-stop-and-search-2018-12" / "2018-12-metropolitan-stop-and-search.csv"
    if not csv.is_file():
        pytest.skip("the Met stop and search file is not in the shared data")
    root = project_with(cli, tmp_path / "met", csv, recode=True,
                        extra="    params: {outcome: Outcome, outcome_value: Arrest}\n")
    row, total, findings = female(root)
    # group_value: Arrest against the other outcomes together (the case, which used to
    # test all six outcomes); the 3 Female cautions are counted with the other outcomes
    stops = pl.read_csv(csv, infer_schema_length=0).filter(pl.col("Gender").is_in(["Male", "Female"])
                                                          & pl.col("Outcome").is_not_null())
    arrest = stops["Outcome"] == "Arrest"
    table = np.array([[int((arrest & (stops["Gender"] == g)).sum()), int((~arrest & (stops["Gender"] == g)).sum())]
                      for g in ("Female", "Male")])
    assert table[0, 0] == 140
    assert row == {"Arrest": 140, "other than Arrest": int(table[0, 1])}
    assert total == 1_057
    assert attack(findings, DisclosureConfig(min_count=10)) == []
    arrests = next(f for f in findings if f.id == "arrests")
    gender = {r["variable"]: r for r in arrests.tables["tests"].frame.iter_rows(named=True)}["Gender"]
    chi = sps.chi2_contingency(table, correction=False)
    assert gender["statistic"] ** 2 == pytest.approx(chi.statistic)
    assert gender["p_value"] == pytest.approx(chi.pvalue)
    packed = packed_female(cli, root)
    assert packed["Arrest"] == "140" and packed["other than Arrest"] == str(table[0, 1])
