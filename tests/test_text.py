"""The `text` step: redaction first, terms that match the planted signal with correct statistics,
nothing rarer than the disclosure threshold, topics, and clear errors."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.contingency_tables import Table2x2

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.examples.referrals import FIRST_NAMES, SURNAMES, generate
from expedition.pii import scan
from expedition.steps import StepContext
from expedition.steps.text import Text, distinct_terms

CTX = StepContext(seed=3, disclosure=DisclosureConfig(min_count=10))


@pytest.fixture(scope="module")
def referrals() -> pl.DataFrame:
    return generate(2500, seed=21)


@pytest.fixture(scope="module")
def finding(referrals):
    return run(referrals, text=["referral_note"], outcome="rereferred_12m", outcome_value="yes", cv_folds=3, terms=30)


def run(data, ctx=CTX, **params):
    return Text().run(data.lazy(), Text.parse_params(params), ctx)


def test_the_planted_concern_words_distinguish_re_referred_cases(finding):
    terms = finding.tables["terms"].frame
    yes = terms.filter((pl.col("group") == "yes") & (pl.col("q_value") < 0.05))["term"].to_list()
    assert "domestic abuse" in yes[:5]
    assert any(w in t for t in yes for w in ("substance", "neglect", "alcohol", "mental health"))
    for neutral in ("letter sent", "weekend", "telephone"):
        assert neutral not in yes
    assert any("'domestic abuse'" in h for h in finding.headlines)
    assert 0.55 < finding.metrics["text_only_auc"] < 0.8


def test_odds_ratios_and_intervals_match_statsmodels(finding, referrals):
    terms = finding.tables["terms"].frame
    row = terms.filter((pl.col("group") == "yes") & (pl.col("term") == "domestic abuse")).row(0, named=True)
    notes = referrals["referral_note"].str.to_lowercase()
    has = notes.str.contains("domestic abuse")
    yes = referrals["rereferred_12m"] == "yes"
    a, c = int((has & yes).sum()), int((has & ~yes).sum())
    assert (row["docs"], row["other_docs"]) == (a, c)
    b, d = int(yes.sum()) - a, int((~yes).sum()) - c
    table = Table2x2(np.array([[a, b], [c, d]], dtype=float) + 0.5)
    low, high = table.log_oddsratio_confint()
    assert row["odds_ratio"] == pytest.approx(table.oddsratio)
    assert row["ci_low"] == pytest.approx(np.exp(low)) and row["ci_high"] == pytest.approx(np.exp(high))
    assert row["share"] == pytest.approx(a / int(yes.sum()))


def test_no_term_rarer_than_the_threshold_and_no_personal_data(finding):
    terms = finding.tables["terms"].frame
    for column in ("docs", "other_docs"):
        assert all(v == 0 or v >= 10 for v in terms[column].to_list())
    names = {n.lower() for n in SURNAMES + FIRST_NAMES}
    published = " ".join(
        terms["term"].to_list() + finding.tables["topics"].frame["top_terms"].to_list() + finding.headlines
    ).lower()
    assert not any(name in published.split() for name in names)
    assert "07700" not in published and "999" not in published


def test_redactions_are_counted_per_kind(finding, referrals):
    found: dict[str, int] = {}
    for note in referrals["referral_note"].to_list():
        for kind in {m.kind for m in scan(note)}:
            found[kind] = found.get(kind, 0) + 1
    table = finding.tables["redactions"].frame
    assert sum(table["documents"].to_list()) == sum(found.values())
    assert table.filter(pl.col("kind") == "UK phone number")["documents"][0] == found["phone"]


def test_topics_cover_every_document_in_each_group(finding):
    prevalence = finding.tables["topic_prevalence"].frame
    sums = prevalence.group_by("group").agg(pl.col("share").sum())["share"].to_list()
    assert all(s == pytest.approx(1.0) for s in sums)
    assert finding.tables["topics"].frame["docs"].sum() == 2500
    lengths = finding.tables["lengths"].frame
    assert lengths["documents"].sum() == 2500


def test_without_an_outcome_the_common_terms_are_listed(referrals):
    finding = run(referrals, text=["referral_note"], topics=0)
    terms = finding.tables["terms"].frame
    assert terms.columns == ["term", "docs", "share"]
    assert terms["docs"].to_list() == sorted(terms["docs"].to_list(), reverse=True)
    assert "topics" not in finding.tables


def test_a_many_valued_outcome_compares_each_group_with_the_rest(referrals):
    finding = run(referrals, text=["referral_note"], outcome="referral_source", topics=3, cv_folds=0)
    groups = set(finding.tables["terms"].frame["group"].unique())
    assert "Police" in groups
    police = finding.tables["terms"].frame.filter(pl.col("group") == "Police")["term"].to_list()
    assert any("police" in term for term in police[:3])


def test_the_same_seed_gives_the_same_tables(referrals):
    a = run(referrals.head(800), text=["referral_note"], outcome="rereferred_12m", cv_folds=0)
    b = run(referrals.head(800), text=["referral_note"], outcome="rereferred_12m", cv_folds=0)
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)


def test_the_text_column_is_found_by_role_or_by_its_look(referrals):
    by_role = run(referrals.head(500), StepContext(roles={"referral_note": "text"}), topics=0)
    by_look = run(referrals.head(500), topics=0)
    assert by_role.tables["terms"].frame.equals(by_look.tables["terms"].frame)


def test_empty_or_missing_text_is_a_clear_error(referrals):
    empty = referrals.with_columns(pl.lit(None, dtype=pl.String).alias("referral_note"))
    with pytest.raises(StepError, match="are empty in every row"):
        run(empty, text=["referral_note"])
    with pytest.raises(StepError, match="did you mean 'referral_note'"):
        run(referrals, text=["referral_notes"])
    with pytest.raises(StepError, match="no free-text column"):
        run(referrals.select("age", "district"))


def test_min_docs_is_never_below_the_threshold(referrals):
    finding = run(referrals.head(600), text=["referral_note"], min_docs=2, topics=0, cv_folds=0)
    assert any("raised from 2" in c for c in finding.caveats)


def test_distinct_terms_prefers_phrases():
    assert distinct_terms(["abuse", "domestic", "domestic abuse", "abuse incident", "incident", "police"], 3) == [
        "domestic abuse",
        "abuse incident",
        "police",
    ]
