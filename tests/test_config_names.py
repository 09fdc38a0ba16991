"""Dataset names, step ids, the slug and the seed are checked in expedition.yaml, with the rule or
the range in the message and the file, line and field of the mistake."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.config import (
    NAME_MAX,
    NAME_PATTERN,
    SEED_MAX,
    SLUG_PATTERN,
    STEP_ID_PATTERN,
    config_from_document,
    load_config,
    name_problem,
)
from expedition.errors import ConfigError

from _text import flat

CONFIG = """\
expedition:
  title: Re-referrals
  slug: {slug}
seed: {seed}
datasets:
  {dataset}:
    deliveries: []
steps:
  - id: {step}
    step: eda
    dataset: {dataset}
"""


def write(tmp_path: Path, *, slug="rereferrals", seed="42", dataset="referrals", step="who") -> Path:
    path = tmp_path / "expedition.yaml"
    path.write_text(CONFIG.format(slug=slug, seed=seed, dataset=dataset, step=step), encoding="utf-8")
    return path


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_a_300_character_dataset_name_is_refused_with_the_rule(tmp_path):
    name = "d" * 300
    err = refused(write(tmp_path, dataset=name))
    assert err.line == 6 and err.field == "datasets"
    assert "1 to 64 characters (it has 300)" in err.what
    assert "letters, digits, '_', '-' and '.'" in err.what
    assert name not in err.message  # a long name is shortened in the message


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "-x", "with space", "x\\y", "é"])
def test_dataset_names_that_make_bad_paths_are_refused(tmp_path, name):
    err = refused(write(tmp_path, dataset=f"'{name}'"))
    assert "is not a valid dataset name" in err.what and err.line == 6


def test_a_name_with_a_trailing_newline_is_refused():
    # re.match with `$` lets "name\n" through; the whole name must match
    err = name_problem("dataset name", "referrals\n")
    assert err and "is not a valid dataset name" in err


@pytest.mark.parametrize(
    "step, message",
    [("x" * 65, "1 to 64 characters (it has 65)"), ("../up", "letters, digits, '_' and '-'"),
     ("_x", "starting with a letter or digit")],
)
def test_step_ids_are_checked_with_the_rule(tmp_path, step, message):
    err = refused(write(tmp_path, step=f'"{step}"'))
    assert message in err.what and err.field == "steps[0].id" and err.line == 9


@pytest.mark.parametrize("slug", ["s" * 65, "Upper", "a_b", "-a"])
def test_the_slug_is_checked_with_the_rule(tmp_path, slug):
    err = refused(write(tmp_path, slug=slug))
    assert "is not a valid slug" in err.what and "lower-case letters, digits and '-'" in err.what
    assert err.field == "expedition.slug" and err.line == 3


@pytest.mark.parametrize("seed", ["-1", str(2**32), "true", "'42'", "4.5", "null", "[1]"])
def test_a_seed_outside_numpys_range_is_refused_with_the_range(tmp_path, seed):
    err = refused(write(tmp_path, seed=seed))
    assert err.field == "seed" and err.line == 4
    assert "whole number from 0 to 4294967295" in err.what


@pytest.mark.parametrize("seed", [0, 1, 42, SEED_MAX])
def test_seeds_in_range_load_and_numpy_accepts_them(tmp_path, seed):
    assert load_config(write(tmp_path, seed=str(seed))).seed == seed
    np.random.RandomState(seed)  # the range is NumPy's own
    np.random.default_rng(seed)


def test_the_range_is_numpys():
    with pytest.raises(ValueError):
        np.random.RandomState(SEED_MAX + 1)
    with pytest.raises(ValueError):
        np.random.RandomState(-1)


def document(**fields):
    return {
        "expedition": {"title": "T", "slug": fields.get("slug", "t")},
        "seed": fields.get("seed", 42),
        "datasets": {fields.get("dataset", "d"): {"deliveries": []}},
        "steps": [{"id": fields.get("step", "s"), "step": "eda", "dataset": fields.get("dataset", "d")}],
    }


def _valid(kind: str, pattern: str, text: str) -> bool:
    return len(text) <= NAME_MAX and re.fullmatch(pattern, text) is not None


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from([("dataset", "dataset name", NAME_PATTERN), ("step", "step id", STEP_ID_PATTERN),
                          ("slug", "slug", SLUG_PATTERN)]),
    text=st.text(max_size=80) | st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,70}\Z"),
)
def test_any_name_is_accepted_exactly_when_it_follows_the_rule(kind, text):
    field, label, pattern = kind
    try:
        config = config_from_document(document(**{field: text}), Path("expedition.yaml"))
    except ConfigError as exc:
        assert not _valid(label, pattern, text)
        assert f"is not a valid {label}" in exc.what and f"1 to {NAME_MAX} characters" in exc.what
        return
    assert _valid(label, pattern, text)
    assert name_problem(label, text) is None
    assert config.datasets or config.steps


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=-(2**70), max_value=2**70))
def test_any_integer_seed_is_accepted_exactly_in_range(seed):
    try:
        config = config_from_document(document(seed=seed), Path("expedition.yaml"))
    except ConfigError as exc:
        assert not 0 <= seed <= SEED_MAX
        assert "from 0 to 4294967295" in exc.what and exc.field == "seed"
        return
    assert config.seed == seed and 0 <= seed <= SEED_MAX


@pytest.mark.parametrize("name", ["n" * 300, "../escape", "a/b"])
def test_data_add_gives_the_same_message_as_the_config(cli, project_dir, referrals_csv, name):
    result = cli("data", "add", str(referrals_csv), "--name", name, "--project", str(project_dir))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert name_problem("dataset name", name) in flat(result.stderr)
    assert "--name" in flat(result.stderr)
    assert [p.name for p in (project_dir / "data" / "raw").iterdir()] == [".gitkeep"]
    assert load_config(project_dir).datasets == {}


def test_every_built_in_step_runs_with_the_largest_seed():
    """Seeds a step derives from the project's seed stay in NumPy's range at the top of it."""
    from expedition import testing
    from expedition.steps import available_steps, get_step

    for name in available_steps():
        step = get_step(name)
        finding = testing._run(step if isinstance(step, type) else type(step), SEED_MAX)
        assert finding.headlines, name
