"""The `text` step: redaction first, terms that match the planted signal with correct statistics,
nothing rarer than the disclosure threshold, topics, and clear errors; through the one gate,
big topics and groups keep their counts while a small group is protected everywhere."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import Table2x2

from expedition.config import DisclosureConfig
from expedition.disclosure.recode import recode_labels
from expedition.errors import StepError
from expedition.examples.referrals import FIRST_NAMES, SURNAMES, generate
from expedition.finding import Chart, Sentence
from expedition.pii import scan
from expedition.steps import StepContext
from expedition.steps.text import Text, distinct_terms
from expedition.testing import attack, publish

RULES = DisclosureConfig(min_count=10)
CTX = StepContext(seed=3, disclosure=RULES)


@pytest.fixture(scope="module")
def referrals() -> pl.DataFrame:
    return generate(2500, seed=21)


@pytest.fixture(scope="module")
def found(referrals):
    """The finding as the step returns it (before the gate)."""
    return raw(referrals, text=["referral_note"], outcome="rereferred_12m", outcome_value="yes", cv_folds=3, terms=30)


@pytest.fixture(scope="module")
def finding(found):
    """The same finding as a reader sees it."""
    return publish(found.with_(id="text", population="p"), RULES)


def raw(data, ctx=CTX, **params):
    """The finding as the step returns it, before the gate."""
    return Text().run(data.lazy(), Text.parse_params(params), ctx)


def run(data, ctx=CTX, **params):
    """The finding as published: tables, sentences and figures through the gate."""
    return publish(raw(data, ctx, **params).with_(id="text", population="p"), ctx.disclosure)


def as_runner(data: pl.DataFrame, min_count: int = 10, **params) -> pl.DataFrame:
    """The data as the runner hands it to the step: rare categories of what it tabulates recoded."""
    parsed = Text.parse_params(params)
    recoded, _ = recode_labels(data, Text.recode_columns(parsed, data.columns), min_count,
                               keep=Text.recode_keep(parsed))
    return recoded


def test_the_planted_concern_words_distinguish_re_referred_cases(finding):
    terms = finding.tables["terms"].frame
    yes = terms.filter((pl.col("group") == "yes") & (pl.col("q_value") < 0.05))["term"].to_list()
    assert "domestic abuse" in yes[:5]
    assert any(w in t for t in yes for w in ("substance", "neglect", "alcohol", "mental health"))
    for neutral in ("letter sent", "weekend", "telephone"):
        assert neutral not in yes
    assert any("'domestic abuse'" in h for h in finding.headlines)
    assert 0.55 < finding.metrics["text_only_auc"] < 0.8


def test_odds_ratios_and_intervals_match_statsmodels(found, referrals):
    terms = found.tables["terms"].frame
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


def test_no_term_rarer_than_the_threshold_and_no_personal_data(found, finding):
    terms = found.tables["terms"].frame
    sizes = dict(found.tables["lengths"].frame.select("group", "documents").iter_rows())
    for row in terms.iter_rows(named=True):
        rest = sum(sizes.values()) - sizes[row["group"]]
        # every cell of the term's 2x2 table is none or at least the threshold
        for cell in (row["docs"], row["other_docs"], sizes[row["group"]] - row["docs"], rest - row["other_docs"]):
            assert cell == 0 or cell >= 10
    names = {n.lower() for n in SURNAMES + FIRST_NAMES}
    published = " ".join(
        finding.tables["terms"].frame["term"].to_list() + finding.tables["topics"].frame["top_terms"].to_list()
        + finding.headlines
    ).lower()
    assert not any(name in published.split() for name in names)
    assert "07700" not in published and "999" not in published


def test_redactions_are_counted_per_kind(found, referrals):
    counted: dict[str, int] = {}
    for note in referrals["referral_note"].to_list():
        for kind in {m.kind for m in scan(note)}:
            counted[kind] = counted.get(kind, 0) + 1
    table = found.tables["redactions"].frame
    assert sum(table["documents"].to_list()) == sum(counted.values())
    assert table.filter(pl.col("kind") == "UK phone number")["documents"][0] == counted["phone"]
    assert set(table["of_documents"].to_list()) == {2500}


def test_topics_cover_every_document_and_prevalence_is_a_share_of_each_group(found):
    prevalence = found.tables["topic_prevalence"].frame
    sums = prevalence.group_by("group").agg(pl.col("prevalence").sum())["prevalence"].to_list()
    assert all(s == pytest.approx(1.0) for s in sums)
    assert found.tables["topics"].frame["docs"].sum() == 2500
    assert found.tables["lengths"].frame["documents"].sum() == 2500


def test_without_an_outcome_the_common_terms_are_listed(referrals):
    finding = run(referrals, text=["referral_note"], topics=0)
    terms = finding.tables["terms"].frame
    assert terms.columns == ["term", "docs", "share"]
    assert terms["docs"].to_list() == sorted(terms["docs"].to_list(), reverse=True)
    assert "topics" not in finding.tables
    assert finding.headlines[0].startswith("2,500 documents from referral_note were analysed")


def test_a_many_valued_outcome_compares_each_group_with_the_rest(referrals):
    finding = run(referrals, text=["referral_note"], outcome="referral_source", topics=3, cv_folds=0)
    groups = set(finding.tables["terms"].frame["group"].unique())
    assert "Police" in groups
    police = finding.tables["terms"].frame.filter(pl.col("group") == "Police")["term"].to_list()
    assert any("police" in term for term in police[:3])


def test_the_same_seed_gives_the_same_tables(referrals):
    a = raw(referrals.head(800), text=["referral_note"], outcome="rereferred_12m", cv_folds=0)
    b = raw(referrals.head(800), text=["referral_note"], outcome="rereferred_12m", cv_folds=0)
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)


def test_the_text_column_is_found_by_role_or_by_its_look(referrals):
    by_role = raw(referrals.head(500), StepContext(roles={"referral_note": "text"}), topics=0)
    by_look = raw(referrals.head(500), topics=0)
    assert by_role.tables["terms"].frame.equals(by_look.tables["terms"].frame)


def test_empty_or_missing_text_is_a_clear_error(referrals):
    empty = referrals.with_columns(pl.lit(None, dtype=pl.String).alias("referral_note"))
    with pytest.raises(StepError, match="are empty in every row"):
        raw(empty, text=["referral_note"])
    with pytest.raises(StepError, match="did you mean 'referral_note'"):
        raw(referrals, text=["referral_notes"])
    with pytest.raises(StepError, match="no free-text column"):
        raw(referrals.select("age", "district"))


def test_min_docs_is_never_below_the_threshold(referrals):
    finding = run(referrals.head(600), text=["referral_note"], min_docs=2, topics=0, cv_folds=0)
    assert any("raised from 2" in c for c in finding.caveats)


def test_distinct_terms_prefers_phrases():
    assert distinct_terms(["abuse", "domestic", "domestic abuse", "abuse incident", "incident", "police"], 3) == [
        "domestic abuse",
        "abuse incident",
        "police",
    ]


# --------------------------------------------------------------------------- the one gate


def test_sentences_carry_their_counts_in_slots_and_figures_are_declared(found, finding):
    assert isinstance(found.headlines[0], Sentence)
    assert {type(f) for f in found.figures.values()} == {Chart}
    assert set(finding.figures) == {"terms", "topic_prevalence"}
    assert all(f.png.startswith(b"\x89PNG") for f in finding.figures.values())
    assert finding.metrics["documents"] == 2500 and finding.metric_kinds["documents"] == "count"


def corpus(sizes: dict[str, int], seed: int = 0) -> pl.DataFrame:
    """Short notes in groups: each group leans on its own words, all share some common ones."""
    rng = np.random.default_rng(seed)
    common = ["called", "about", "visit", "school", "home", "worry", "family", "support", "plan", "review"]
    rows = []
    for g, (group, n) in enumerate(sizes.items()):
        own = [f"{group.lower()}word{i}" for i in range(6)]
        for _ in range(n):
            words = list(rng.choice(common, 5)) + list(rng.choice(own, 3)) + [["alpha", "beta", "gamma"][g % 3]] * 2
            rows.append((group, " ".join(words)))
    return pl.DataFrame(rows, schema=["label", "note"], orient="row")


def test_big_topics_and_groups_keep_their_counts_beside_a_group_of_one():
    """The SMS case in miniature: a one-message group beside two large ones. Recoded as the
    runner does, nothing is suppressed; on its own, the gate protects it and the topics keep
    every count."""
    data = corpus({"ham": 600, "spam": 150, "Label": 1}, seed=1)
    params = dict(text=["note"], outcome="label", topics=3, cv_folds=0)
    recoded = run(as_runner(data, **params), **params)
    lengths = recoded.tables["lengths"].frame
    assert dict(lengths.select("group", "documents").iter_rows()) == {"ham": 600, "spam": 150}
    assert recoded.tables["topics"].frame["docs"].null_count() == 0
    assert any("no value for label" in c for c in recoded.caveats)  # the group of one, without its count

    direct = run(data, **params)
    topics = direct.tables["topics"].frame
    assert topics["docs"].null_count() == 0 and topics["docs"].sum() == 751
    prevalence = direct.tables["topic_prevalence"].frame
    assert prevalence.filter(pl.col("group") == "Label")["prevalence"].null_count() == 3
    assert prevalence.filter(pl.col("group") != "Label")["prevalence"].null_count() == 0
    assert not direct.tables["terms"].frame.filter(pl.col("group") == "Label").height
    assert direct.tables["lengths"].frame.filter(pl.col("group") == "Label")["documents"][0] is None
    assert not any("Label" in h for h in direct.headlines)


def test_a_term_in_all_but_a_few_documents_of_a_group_is_not_listed():
    data = corpus({"a": 400, "b": 300}, seed=2)
    # 'zebra' is in every 'a' note but three, and in no 'b' note: the 3 would be given away
    notes = [n + (" zebra" if lab == "a" and i >= 3 else "") for i, (lab, n) in enumerate(data.iter_rows())]
    data = data.with_columns(pl.Series("note", notes))
    found = raw(data, text=["note"], outcome="label", topics=0, cv_folds=0, terms=50)
    assert "zebra" not in found.tables["terms"].frame["term"].to_list()
    assert attack([found.with_(id="t", population="p")], RULES) == []


def test_the_sms_collection_keeps_its_big_topics(shared_data):
    """The issue's case: read as the brief says (no header, quoting off), the header line is a
    message of its own with the label 'Label'. Topics with 837-odd messages keep their counts."""
    path = shared_data / "sms-spam-collection" / "SMSSpamCollection.tsv"
    data = pl.read_csv(path, separator="\t", has_header=False, quote_char=None, new_columns=["label", "message"])
    params = dict(text=["message"], outcome="label", cv_folds=0)
    for frame in (as_runner(data, **params), data):
        found = raw(frame, **params).with_(id="sms", population="sms")
        published = publish(found, RULES)
        topics, raw_topics = published.tables["topics"].frame, found.tables["topics"].frame
        big = raw_topics.filter(pl.col("docs") >= 10)["topic"].to_list()
        assert big and topics.filter(pl.col("topic").is_in(big))["docs"].null_count() == 0
        assert topics["docs"].max() > 800
        prevalence = published.tables["topic_prevalence"].frame
        assert prevalence.filter(pl.col("group").is_in(["ham", "spam"]))["prevalence"].null_count() == 0
        assert attack([found], RULES) == []
    lengths = publish(raw(as_runner(data, **params), **params).with_(id="sms", population="sms"), RULES)
    assert dict(lengths.tables["lengths"].frame.select("group", "documents").iter_rows()) == {"ham": 4827, "spam": 747}


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 9), st.integers(2, 3), st.integers(0, 10_000))
def test_a_planted_small_group_cannot_be_read_from_anything_published(small, groups, seed):
    """A group of fewer than ten documents among large ones: no table, sentence or metric
    publishes a count the auditor can pin, and no sentence names the group with a number."""
    sizes = {f"G{i}": 120 + 40 * i for i in range(groups)} | {"Tiny": small}
    data = corpus(sizes, seed=seed)
    found = raw(data, text=["note"], outcome="label", topics=3, cv_folds=0).with_(id="t", population="p")
    assert attack([found], RULES) == []
    published = publish(found, RULES)
    lengths = published.tables["lengths"].frame
    assert lengths.filter(pl.col("group") == "Tiny")["documents"][0] is None
    assert published.tables["terms"].frame.filter(pl.col("group") == "Tiny").height == 0
    assert not any("Tiny" in h for h in published.headlines)
    assert published.tables["topic_prevalence"].frame.filter(pl.col("group") == "Tiny")["prevalence"].null_count() == 3


def test_a_group_too_small_to_describe_is_drawn_as_suppressed_not_as_zero():
    from expedition import disclosure
    from expedition.steps._plot import Drawing
    from expedition.steps.text import draw_topics

    data = corpus({"ham": 300, "spam": 120, "Tiny": 4}, seed=5)
    found = raw(data, text=["note"], outcome="label", topics=3, cv_folds=0).with_(id="t", population="p")
    gated = disclosure.apply_detailed(found, RULES)
    chart = found.figures["topic_prevalence"]
    fig = draw_topics(Drawing(chart, gated.finding.tables, gated.suppressed, RULES))
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if p.get_hatch() == "///"]
    assert len(hatched) == 3  # one stub per topic for the small group
    assert sum(t.get_text() == RULES.symbol for t in ax.texts) == 3
    drawn = [p for p in ax.patches if p.get_hatch() is None]
    assert all(p.get_height() > 0 for p in drawn)  # no zero-height bar stands for a hidden value


@pytest.mark.parametrize("preset", ["acro", "nhs-digital", "opensafely", "dfe"])
def test_every_preset_publishes_nothing_the_auditor_can_pin(preset, referrals):
    rules = DisclosureConfig(preset=preset)
    found = raw(referrals.head(1200), StepContext(seed=1, disclosure=rules), text=["referral_note"],
                outcome="referral_source", topics=3, cv_folds=0).with_(id="t", population="p")
    assert attack([found], rules) == []
    published = publish(found, rules)
    for table in published.tables.values():
        for column, kind in table.kinds.items():
            if kind == "count":
                values = table.frame[column].drop_nulls().to_list()
                assert all(v >= rules.min_count or (v == 0 and not rules.zeros_disclosive) for v in values)
                if rules.round_to:
                    assert all(v % rules.round_to == 0 for v in values)


# --------------------------------------------------------------------------- sentiment

def complaints(seed: int = 5) -> pl.DataFrame:
    """Consultation responses from three areas, the first planted as more negative."""
    rng = np.random.default_rng(seed)
    bad = ["The service was terrible and slow.", "Awful, rude staff and nobody helped.",
           "I am very unhappy with the delays."]
    good = ["Great service, thank you so much.", "The staff were kind and helpful.",
            "Very happy with the new bins."]
    plain = ["The bins are collected on Tuesday.", "I live near the park.", "We moved here in May."]
    rows = []
    for area, p_bad in (("Basildon", 0.6), ("Harlow", 0.2), ("Colchester", 0.2)):
        for _ in range(120):
            kind = rng.choice(["bad", "good", "plain"], p=[p_bad, (1 - p_bad) / 2, (1 - p_bad) / 2])
            rows.append({"area": area, "response": rng.choice({"bad": bad, "good": good, "plain": plain}[kind])})
    return pl.DataFrame(rows)


def test_sentiment_shares_match_vader_and_find_the_planted_area():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    data = complaints()
    found = raw(data, text=["response"], outcome="area", sentiment=True, topics=0, cv_folds=0)
    table = found.tables["sentiment"].frame
    analyser = SentimentIntensityAnalyzer()
    scores = [analyser.polarity_scores(t)["compound"] for t in data["response"]]
    expected = data.with_columns(pl.Series("neg", [s <= -0.05 for s in scores])).group_by("area").agg(
        pl.col("neg").mean())
    for area, share in expected.iter_rows():
        row = table.filter((pl.col("group") == area) & (pl.col("tone") == "negative"))
        assert row["share"].item() == pytest.approx(share)
        assert row["share_low"].item() < share < row["share_high"].item()
    # each group's tones add up to its documents
    sums = table.group_by("group").agg(pl.col("share").sum())["share"].to_list()
    assert sums == pytest.approx([1.0] * 3)
    published = publish(found.with_(id="text", population="p"), RULES)
    text = " ".join(str(h) for h in published.headlines)
    assert "area = Basildon read as negative most often" in text
    assert any("VADER" in str(c) for c in published.caveats)


def test_a_small_groups_sentiment_is_protected():
    data = complaints().filter(~((pl.col("area") == "Harlow") & (pl.int_range(pl.len()).over("area") >= 6)))
    published = run(data, text=["response"], outcome="area", sentiment=True, topics=0, cv_folds=0)
    harlow = published.tables["sentiment"].frame.filter(pl.col("group") == "Harlow")
    assert harlow["documents"].to_list() == [None] * 3 and harlow["share"].to_list() == [None] * 3
    scores = published.tables["sentiment_scores"].frame.filter(pl.col("group") == "Harlow")
    assert scores["mean_compound"].to_list() == [None]  # six documents: nothing said about them
