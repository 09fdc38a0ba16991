"""`expedition new`: a project folder from the cookiecutter template, optionally from a recipe card.

Inputs are checked in Python first; cookiecutter then renders the template into a temporary folder
beside the destination (with its replay file kept there too, not in the user's home). The result is
validated as an expedition, the recipe applied, and only then renamed into place — so an existing
folder is never touched and a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from expedition._resources import resource_path
from expedition.config import CONFIG_FILE, load_config, update_config
from expedition.errors import ConfigError, ScaffoldError
from expedition.recipes import Recipe, load_recipe

TEMPLATE = "cookiecutter-template"


def template_dir() -> Path:
    return resource_path(TEMPLATE)


def template_variables() -> dict[str, Any]:
    """The template's variables and their defaults (private ``_`` keys left out)."""
    data = json.loads((template_dir() / "cookiecutter.json").read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def slugify(text: str) -> str:
    from slugify import slugify as _slugify

    return _slugify(text)


def parse_settings(pairs: list[str] | None) -> dict[str, str]:
    """Turn ``key=value`` strings into a dict, checking each key is a template variable."""
    valid = template_variables()
    settings: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScaffoldError(
                f"--set {pair!r} is not of the form key=value",
                "write it like --set lead='A. Lead'",
            )
        if key not in valid:
            raise ScaffoldError(
                f"--set names an unknown template variable {key!r}",
                f"the variables are: {', '.join(valid)}",
            )
        settings[key] = value
    return settings


def new_project(
    name: str | None = None,
    *,
    output_dir: str | Path = ".",
    no_input: bool = False,
    recipe: str | None = None,
    settings: dict[str, str] | None = None,
    today: date | None = None,
) -> Path:
    """Create a new expedition folder and return its path.

    *name* is the folder (and default slug and title); *settings* set any template variable.
    With ``no_input=False`` cookiecutter asks for each value, offering these as defaults.
    """
    output_dir = Path(output_dir).expanduser().resolve()
    settings = dict(settings or {})
    unknown = set(settings) - set(template_variables())
    if unknown:
        raise ScaffoldError(
            f"unknown template variable(s): {', '.join(sorted(unknown))}",
            f"the variables are: {', '.join(template_variables())}",
        )
    card = load_recipe(recipe) if recipe else None

    today = today or date.today()
    context: dict[str, Any] = {"start": today.isoformat(), "end": (today + timedelta(weeks=4)).isoformat()}
    if card is not None:
        context["title"] = card.title
        if card.question:
            context["question"] = card.question
    if name:
        slug = slugify(Path(name).name)
        if not slug:
            raise ScaffoldError(
                f"{name!r} cannot be made into a folder name",
                "use letters and digits, e.g. `expedition new rereferrals`",
            )
        context["slug"] = slug
        context.setdefault("title", Path(name).name.replace("-", " ").replace("_", " ").strip().capitalize())
    context.update(settings)
    if "slug" in settings:
        context["slug"] = slugify(settings["slug"])
    if no_input and "slug" not in context:
        context["slug"] = slugify(str(context.get("title") or template_variables()["title"]))
    if "slug" in context:
        _refuse_existing(output_dir / context["slug"])

    output_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".expedition-new-", dir=output_dir))
    try:
        rendered = _render(work, context, no_input)
        final = output_dir / rendered.name
        _refuse_existing(final)
        try:
            load_config(rendered / CONFIG_FILE)
        except ConfigError as exc:
            raise ScaffoldError(
                f"the values given do not make a valid expedition: {exc.what}",
                "check the value of that field (dates as YYYY-MM-DD, the threshold a whole "
                "number of at least 1)",
                field=exc.field,
            ) from None
        if card is not None:
            apply_recipe(rendered, card)
        rendered.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise ScaffoldError(
            f"{path} already exists; expedition new never overwrites a folder",
            "choose another name, or --output-dir somewhere else",
            path=path,
        )


def _render(work: Path, context: dict[str, Any], no_input: bool) -> Path:
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    config_file = work / "cookiecutter-config.yaml"
    config_file.write_text(
        f"cookiecutters_dir: {json.dumps(str(work / 'cache'))}\n"
        f"replay_dir: {json.dumps(str(work / 'replay'))}\n",
        encoding="utf-8",
    )
    out = work / "out"
    try:
        result = cookiecutter(
            str(template_dir()),
            no_input=no_input,
            extra_context=context,
            output_dir=str(out),
            config_file=str(config_file),
        )
    except CookiecutterException as exc:
        raise ScaffoldError(
            f"the project template could not be rendered: {exc}",
            "check the values passed with --set",
        ) from None
    return Path(result)


def apply_recipe(root: Path, card: Recipe) -> None:
    """Declare the card's datasets and steps in a new project and write its guidance."""

    def change(document: Any) -> None:
        datasets = document.get("datasets") or {}
        for name, spec in card.datasets.items():
            datasets.setdefault(
                name,
                {"description": spec.description, "schema": f"schemas/{name}.yaml", "deliveries": []},
            )
        document["datasets"] = datasets
        steps = document.get("steps") or []
        for step in card.steps:
            steps.append(step.model_dump(exclude_none=True))
        document["steps"] = steps

    update_config(root / CONFIG_FILE, change)
    guidance = f"# Recipe: {card.title}\n\n{card.summary}\n\n{card.guidance.strip()}\n"
    (root / "RECIPE.md").write_text(guidance, encoding="utf-8")
