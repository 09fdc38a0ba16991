"""Words for people (issue 16, part 4): the subject noun, column and value labels, capped lists,
the glossary."""

from __future__ import annotations

import pytest

from expedition.config import Subject
from expedition.finding import Items, say
from expedition.pack.glossary import Glossary
from expedition.pack.words import Words
from expedition.contract import draft_label
from expedition.steps._text import reword


def test_subject_from_one_word_or_both():
    assert Subject.model_validate("stop").words() == ("stop", "stops")
    assert Subject.model_validate("search").words() == ("search", "searches")
    assert Subject.model_validate({"singular": "stop and search", "plural": "stops and searches"}).words() == (
        "stop and search", "stops and searches")
    with pytest.raises(ValueError):
        Subject.model_validate("<b>")


def test_steps_sentences_take_the_subject():
    sentence = say("Ranking all cases, a case with {o} ranks higher.", o="y", fallback="Cases are ranked.")
    out = reword(sentence, ("message", "messages"))
    assert out.template == "Ranking all messages, a message with {o} ranks higher."
    assert out.fallback == "Messages are ranked."
    assert reword("a case", ("incident", "incidents")) == "an incident"
    assert reword("The notes fall into 6 topics", ("report", "reports"), ("note", "notes")) == \
        "The reports fall into 6 topics"


def test_model_card_has_no_childrens_social_care_wording():
    from expedition.steps import _model_card
    import inspect

    source = inspect.getsource(_model_card)
    for word in ("child", "famil", "children's social care", "closed cases"):
        assert word not in source.lower(), word


def test_labels_name_columns_values_and_codes():
    words = Words(columns={"rereferred_12m": "Re-referred within 12 months", "lad": "Council"},
                  values={"rereferred_12m": {"yes": "re-referred within 12 months", "no": "not re-referred"},
                          "lad": {"E06000033": "Southend-on-Sea"}})
    assert words.text("Overall, 21% have rereferred_12m = yes.") == "Overall, 21% have re-referred within 12 months."
    assert words.text("Highest in E06000033; yes stays yes.") == "Highest in Southend-on-Sea; yes stays yes."
    assert words.text("It varies by lad.") == "It varies by council."
    assert words.cells(["variable", "category", "n"], {"variable": "label", "category": "label", "n": "count"},
                       ["lad", "E06000033", "12"]) == ["lad", "Southend-on-Sea", "12"]
    assert draft_label("rereferred_12m") == "Rereferred 12m"
    assert draft_label("OfficerDefinedEthnicity") == "Officer Defined Ethnicity"


def test_dataset_labels_in_expedition_yaml():
    from expedition.config import DatasetConfig

    entry = DatasetConfig.model_validate({"labels": {"flag": {True: "flagged", False: "not flagged"},
                                                     "lad": {"dataset": "councils", "key": "code", "label": "name"}}})
    assert entry.labels["flag"] == {"yes": "flagged", "no": "not flagged"}
    assert entry.labels["lad"].dataset == "councils"


def test_long_lists_in_sentences_are_capped():
    from expedition.config import DisclosureConfig
    from expedition.disclosure import gate_findings
    from expedition.finding import Finding

    units = Items(tuple(f"E0600{i:04d}" for i in range(88)))
    finding = Finding(step="x", title="t", headlines=[say("Outside the limits: {units}.", units=units)])
    (gated,) = gate_findings([finding], DisclosureConfig())
    line = gated.finding.headlines[0]
    assert "80 more, listed in the table" in line and line.count("E06") == 8


def test_glossary_links_first_use_only():
    glossary = Glossary()
    first = glossary.link("AUC 0.65 (95% CI 0.57 to 0.73), adjusted p < 0.001")
    second = glossary.link("AUC again")
    assert 'href="#glossary-auc"' in first and 'href="#glossary-ci"' in first and "#glossary-p-value" in first
    assert "href" not in second
    assert [slug for slug, _, _ in glossary.used] == ["p-value", "ci", "auc"]
