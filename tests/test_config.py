from __future__ import annotations

from pathlib import Path

import pytest

from expedition.config import load_config, update_config
from expedition.errors import ConfigError

VALID = """\
expedition:
  title: Re-referrals
  slug: rereferrals
  question: Which closed cases are re-referred?
  partners: [Essex County Council, University of Essex]
  lead: A. Lead
  start: 2026-11-24
  end: 2026-12-19
disclosure:
  min_count: 10   # keep me
datasets:
  referrals:
    schema: schemas/referrals.yaml
    deliveries: []
steps:
  - id: who
    step: eda
    dataset: referrals
    params:
      outcome: rereferred
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expedition.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_loads_into_typed_model(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.expedition.slug == "rereferrals"
    assert config.expedition.partners == ["Essex County Council", "University of Essex"]
    assert config.disclosure.min_count == 10
    assert config.steps[0].params == {"outcome": "rereferred"}
    assert config.datasets["referrals"].schema_ == "schemas/referrals.yaml"
    assert config.seed == 42


def test_wrong_type_names_file_line_and_field(tmp_path):
    path = write(tmp_path, VALID.replace("min_count: 10", "min_count: ten"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.path == path
    assert err.line == 10
    assert err.field == "disclosure.min_count"
    assert "integer" in err.what


def test_unknown_field_lists_the_valid_ones(tmp_path):
    path = write(tmp_path, VALID.replace("  lead: A. Lead", "  leader: A. Lead"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "expedition.leader" in str(info.value)
    assert "lead" in info.value.what and "title" in info.value.what


def test_missing_required_field(tmp_path):
    path = write(tmp_path, VALID.replace("  slug: rereferrals\n", ""))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "expedition.slug"
    assert "required" in info.value.what


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = write(tmp_path, VALID.replace("  lead: A. Lead", "  lead: [A. Lead"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line is not None
    assert "not valid YAML" in info.value.what


def test_step_naming_an_undeclared_dataset(tmp_path):
    path = write(tmp_path, VALID.replace("    dataset: referrals", "    dataset: referals"))
    with pytest.raises(ConfigError, match="referals"):
        load_config(path)


def test_duplicate_step_ids(tmp_path):
    text = VALID + "  - id: who\n    step: eda\n    dataset: referrals\n"
    with pytest.raises(ConfigError, match="used twice"):
        load_config(write(tmp_path, text))


def test_end_before_start(tmp_path):
    with pytest.raises(ConfigError, match="before start"):
        load_config(write(tmp_path, VALID.replace("2026-12-19", "2026-11-01")))


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        load_config(write(tmp_path, ""))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope" / "expedition.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_several_problems_are_all_reported(tmp_path):
    text = VALID.replace("min_count: 10", "min_count: 0").replace("  slug: rereferrals", "  slug: Bad Slug")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "2 problems" in info.value.what
    assert "disclosure.min_count" in info.value.what and "expedition.slug" in info.value.what


def test_update_keeps_comments_and_refuses_invalid_edits(tmp_path):
    path = write(tmp_path, VALID)

    def bump(doc):
        doc["disclosure"]["min_count"] = 5

    config = update_config(path, bump)
    assert config.disclosure.min_count == 5
    assert "# keep me" in path.read_text()

    def break_it(doc):
        doc["disclosure"]["min_count"] = -1

    before = path.read_text()
    with pytest.raises(ConfigError):
        update_config(path, break_it)
    assert path.read_text() == before
