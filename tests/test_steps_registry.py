from __future__ import annotations

import importlib
import sys
import textwrap

import polars as pl
import pytest

from expedition.errors import StepError
from expedition.steps import Step, available_steps, get_step, require_columns, step_names
from expedition.steps.eda import EDA

PLUGIN = '''
from pydantic import Field
from expedition.finding import Finding, Table
from expedition.steps import Step, StepParams


class RowCount(Step):
    """Count rows (a third-party step used in the tests)."""

    name = "row-count"
    summary = "Count the rows."

    class Params(StepParams):
        label: str = Field("rows", description="what to call them")

    def run(self, frame, params, ctx):
        import polars as pl
        n = frame.select(pl.len()).collect().item()
        table = Table(pl.DataFrame({"what": [params.label], "n": [n]}), {"what": "label", "n": "count"})
        return Finding(step=self.name, title="Rows", headlines=[f"{n} {params.label}."], tables={"rows": table})


class Misnamed(Step):
    name = "something-else"
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Install a tiny third-party package that registers steps through entry points."""
    (tmp_path / "my_plugin_steps.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[expedition.steps]\n"
        "row-count = my_plugin_steps:RowCount\n"
        "broken = my_plugin_missing_module:Nope\n"
        "misnamed = my_plugin_steps:Misnamed\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("my_plugin_steps", None)


def test_builtin_steps_are_registered_by_entry_point():
    assert "eda" in step_names()
    assert get_step("eda") is EDA


def test_a_third_party_step_is_discovered(plugin):
    assert {"row-count", "broken", "misnamed"} <= set(step_names())
    step = get_step("row-count")
    finding = step().run(pl.LazyFrame({"a": [1, 2, 3]}), step.parse_params({}), None)
    assert finding.headlines == ["3 rows."]


def test_broken_plugins_warn_and_are_skipped_when_listing(plugin):
    with pytest.warns(UserWarning) as record:
        steps = available_steps()
    assert "row-count" in steps and "eda" in steps
    assert "broken" not in steps and "misnamed" not in steps
    messages = " ".join(str(w.message) for w in record)
    assert "broken" in messages and "misnamed" in messages


def test_a_broken_plugin_asked_for_by_name_says_why(plugin):
    with pytest.raises(StepError, match="could not be loaded"):
        get_step("broken")


def test_unknown_step_lists_the_available_ones():
    with pytest.raises(StepError) as info:
        get_step("edaa")
    assert "did you mean 'eda'" in info.value.fix
    assert "eda" in info.value.fix


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(StepError) as info:
        EDA.parse_params({"outcom": "x"})
    assert "unknown parameter 'outcom'" in info.value.what
    assert "did you mean 'outcome'" in info.value.what
    assert "max_categories" in info.value.fix


def test_wrong_typed_parameter_names_it():
    with pytest.raises(StepError, match="max_categories"):
        EDA.parse_params({"max_categories": "lots"})


def test_describe_lists_parameters():
    described = EDA.describe()
    assert described["name"] == "eda"
    names = [p["name"] for p in described["params"]]
    assert "outcome" in names and "bins" in names
    assert all(p["description"] for p in described["params"])


def test_require_columns_suggests_a_close_name():
    with pytest.raises(StepError, match="did you mean 'district'"):
        require_columns(["district", "age"], ["distrct"], param="variables", step="eda")
    with pytest.raises(StepError, match="did you mean 'Age'"):
        require_columns(["Age"], ["age"], param="variables", step="eda")
    require_columns(["a"], ["a", None], param="x", step="eda")


def test_step_base_class_is_a_protocol_for_plugins():
    assert issubclass(EDA, Step)
    assert EDA.version and EDA.summary
