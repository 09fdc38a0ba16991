"""Recipe cards: ready-made step lists, with guidance, for common kinds of expedition.

A card is a YAML file in ``recipes/``::

    name: first-look
    title: First look at a new delivery
    summary: One line for `expedition new --recipe`'s help.
    question: A default policy question.
    guidance: |
      Markdown written into the new project's RECIPE.md.
    datasets:
      main: {description: "...", combine: all}   # combine: optional (all: every delivery a period)
    derived:                                      # optional: datasets made with SQL (`expedition prepare`)
      main_flagged: {sql: "SELECT *, ... AS flag FROM main"}
    links:                                        # optional: records linked into one person key (`expedition link`)
      people: {datasets: [main, other], compare: {surname: name, date_of_birth: date}}
    steps:
      - {id: first-look, step: eda, dataset: main, params: {}}
      - {id: subset, step: eda, dataset: main_flagged, where: "flag = 'yes'"}

Every step reads one of the card's datasets or derived datasets; a derived dataset's SQL names
the card's datasets (checked when the new project's SQL is first read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from expedition._resources import resource_path
from expedition.config import DerivedConfig, LinkConfig, StepConfig
from expedition.errors import ConfigError, ScaffoldError


class RecipeDataset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    combine: Literal["latest", "all"] | None = None


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    summary: str
    question: str = ""
    guidance: str = ""
    datasets: dict[str, RecipeDataset] = Field(default_factory=dict)
    derived: dict[str, DerivedConfig] = Field(default_factory=dict)
    links: dict[str, LinkConfig] = Field(default_factory=dict)
    steps: list[StepConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _steps_read_declared_datasets(self) -> Recipe:
        known = [*self.datasets, *self.derived, *self.links]
        for step in self.steps:
            if step.dataset is not None and step.dataset not in known:
                raise ValueError(f"step {step.id!r} reads {step.dataset!r}, which the card does "
                                 f"not declare ({', '.join(known)})")
        return self


def recipes_dir() -> Path:
    return resource_path("recipes")


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def load_recipe(name: str) -> Recipe:
    """Read a recipe card by name; an unknown name lists the available cards."""
    import yaml

    path = recipes_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ScaffoldError(
            f"there is no recipe card called {name!r}",
            f"choose one of: {', '.join(recipe_names())}",
        )
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Recipe.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(
            f"the recipe card is not valid: {exc}",
            "fix the card (it ships with expedition; reinstall if you did not edit it)",
            path=path,
        ) from None


def list_recipes() -> list[Recipe]:
    return [load_recipe(name) for name in recipe_names()]
