"""Every registered step — built in or installed by a plug-in — passes the conformance checks."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

from expedition.finding import Finding, Table
from expedition.steps import Step, StepParams, available_steps
from expedition.testing import StepCheckFailed, check_step, step_checks

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # a broken plug-in is reported by the registry tests
    STEPS = available_steps()

CHECKS = [check for step in STEPS.values() for check in step_checks(step)]


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_step_conforms(check):
    check()


class Writes(Step):
    """A step that breaks the rules (used to test the checks themselves)."""

    name = "writes"
    summary = "Writes a file."

    class Params(StepParams):
        pass

    def run(self, frame, params, ctx):
        with open("leftover.txt", "w") as handle:
            handle.write("no I/O in steps")
        table = Table(pl.DataFrame({"n": [1]}), {"n": "count"})
        return Finding(step=self.name, title="x", headlines=["x"], tables={"t": table})


class Random(Step):
    """A step whose tables change from run to run."""

    name = "random"
    summary = "Unseeded randomness."

    class Params(StepParams):
        pass

    def run(self, frame, params, ctx):
        import numpy as np

        table = Table(pl.DataFrame({"x": [float(np.random.random())]}), {"x": "statistic"})
        return Finding(step=self.name, title="x", headlines=["x"], tables={"t": table})


def test_the_checks_catch_a_step_that_writes_files():
    with pytest.raises(StepCheckFailed, match="no_files.*leftover.txt"):
        next(c for c in step_checks(Writes) if c.name == "no_files")()


def test_the_checks_catch_a_non_deterministic_step():
    with pytest.raises(StepCheckFailed, match="deterministic"):
        check_step(Random)


def test_every_recipe_card_names_registered_steps_with_valid_parameters():
    from expedition.recipes import list_recipes
    from expedition.steps import get_step

    for recipe in list_recipes():
        for entry in recipe.steps:
            get_step(entry.step).parse_params(entry.params, where=f"{recipe.name}:{entry.id}")


def test_the_example_expedition_steps_have_valid_parameters():
    from expedition.demo import example_config
    from expedition.steps import get_step

    steps = example_config()["steps"]
    assert {s["step"] for s in steps} >= {"eda", "significance", "segment", "drivers"}
    for entry in steps:
        get_step(entry["step"]).parse_params(entry["params"], where=entry["id"])


class NeedsColumn(Step):
    """A step with a required parameter and no example."""

    name = "needs-column"
    summary = "Counts a column."

    class Params(StepParams):
        column: str

    def run(self, frame, params, ctx):  # pragma: no cover - never reached
        raise AssertionError


def test_a_step_with_required_parameters_must_declare_an_example():
    with pytest.raises(StepCheckFailed, match="declare a classmethod example"):
        next(c for c in step_checks(NeedsColumn) if c.name == "runs")()
