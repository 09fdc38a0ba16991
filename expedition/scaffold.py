"""`expedition new`: a project folder from the cookiecutter template, optionally from a recipe card.

Inputs are checked in Python first; cookiecutter then renders the template into a temporary folder
beside the destination (with its replay file kept there too, not in the user's home). The result is
validated as an expedition, the recipe applied, and only then renamed into place — so an existing
folder is never touched and a failure leaves nothing behind.

Values are data, never templates. Cookiecutter renders every public variable of
``cookiecutter.json`` — and any value given for it through ``extra_context`` — as a Jinja
template, so ``--set "title={{ 7*7 }}"`` would store 49 and a crafted value could run code
(Jinja's sandbox is not used, and escaping with ``{% raw %}`` can be closed by the value itself).
The template therefore has no public variables: NAME, ``--set`` values and prompt answers are
checked here, asked here (through the *ask* callback), and passed in two private (``_``) keys
that cookiecutter copies without rendering — ``_text`` (the values as written, for the Markdown
files) and ``_yaml`` (the same values as YAML scalars, for ``expedition.yaml``). A rendered
template only ever outputs them, and Jinja never renders its own output again. After rendering,
the new ``expedition.yaml`` is read back and must hold exactly the values given.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from expedition._resources import resource_path
from expedition.config import CONFIG_FILE, NAME_MAX, Config, load_config, name_problem, update_config
from expedition.errors import ConfigError, ScaffoldError
from expedition.recipes import Recipe, load_recipe

TEMPLATE = "cookiecutter-template"

#: ask(key, question, default, problem) -> answer. *problem* says why the previous answer for
#: *key* was refused (None on the first ask).
Ask = Callable[[str, str, str, "str | None"], str]

#: How often a refused answer is asked for again before giving up.
MAX_TRIES = 5

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE = re.compile(r"[0-9]{1,18}")
#: Unicode categories a value may not hold: control characters (newlines, tabs, NUL...),
#: surrogates (bytes that were not UTF-8) and line or paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


def template_dir() -> Path:
    return resource_path(TEMPLATE)


def _template_context() -> dict[str, Any]:
    return json.loads((template_dir() / "cookiecutter.json").read_text(encoding="utf-8"))


def template_variables() -> dict[str, Any]:
    """The template's variables and their defaults, in the order they are asked for."""
    return dict(_template_context()["_variables"])


def template_prompts() -> dict[str, str]:
    """The question asked for each variable."""
    return dict(_template_context()["_prompts"])


def slugify(text: str, *, max_length: int = 0) -> str:
    from slugify import slugify as _slugify

    return _slugify(text, max_length=max_length, word_boundary=bool(max_length))


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
    ask: Ask | None = None,
) -> Path:
    """Create a new expedition folder and return its path.

    *name* is the folder (and default slug and title); *settings* set any template variable.
    With ``no_input=False`` each value is asked for, offering these as defaults: through
    *ask* (the command line passes its prompt) or, without it, ``input()``. Every value is kept
    literally: text that looks like a template (``{{ ... }}``) is written as it is.
    """
    output_dir = Path(output_dir).expanduser().resolve()
    settings = dict(settings or {})
    variables = template_variables()
    unknown = set(settings) - set(variables)
    if unknown:
        raise ScaffoldError(
            f"unknown template variable(s): {', '.join(sorted(unknown))}",
            f"the variables are: {', '.join(variables)}",
        )
    card = load_recipe(recipe) if recipe else None

    today = today or date.today()
    defaults: dict[str, str] = {
        key: str(value) for key, value in variables.items()
    } | {"start": today.isoformat(), "end": (today + timedelta(weeks=4)).isoformat()}
    if card is not None:
        defaults["title"] = card.title
        if card.question:
            defaults["question"] = card.question
    slug_given = False
    if name:
        folder = Path(name).name
        _check_text("name", folder)
        slug = slugify(folder)
        if not slug:
            raise ScaffoldError(
                f"{name!r} cannot be made into a folder name",
                "use letters and digits, e.g. `expedition new rereferrals`",
            )
        defaults["slug"] = slug
        slug_given = True
        if card is None:
            defaults["title"] = folder.replace("-", " ").replace("_", " ").strip().capitalize() or slug
    defaults.update(settings)
    slug_given = slug_given or "slug" in settings

    values = _collect(defaults, slug_given=slug_given, ask=None if no_input else (ask or _ask_stdin))
    _refuse_existing(output_dir / values["slug"])

    output_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".expedition-new-", dir=output_dir))
    try:
        rendered = _render(work, values)
        final = output_dir / rendered.name
        _refuse_existing(final)
        try:
            config = load_config(rendered / CONFIG_FILE)
        except ConfigError as exc:
            raise ScaffoldError(
                f"the values given do not make a valid expedition: {exc.what}",
                "check the value of that field (dates as YYYY-MM-DD, the threshold a whole "
                "number of at least 1)",
                field=exc.field,
            ) from None
        _check_read_back(config, values)
        if card is not None:
            apply_recipe(rendered, card)
        rendered.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


# --------------------------------------------------------------------------- the values


def _collect(defaults: dict[str, str], *, slug_given: bool, ask: Ask | None) -> dict[str, str]:
    """Check every value (asking for each when *ask* is given) and return them normalised."""
    prompts = template_prompts()
    values: dict[str, str] = {}
    for key in template_variables():
        default = defaults.get(key, "")
        if key == "slug" and not slug_given:
            default = slugify(values.get("title", ""), max_length=NAME_MAX)
        if ask is None:
            values[key] = _check(key, default, values)
            continue
        problem = None
        for _ in range(MAX_TRIES):
            answer = ask(key, prompts.get(key, key), default, problem)
            try:
                values[key] = _check(key, answer, values)
                break
            except ScaffoldError as exc:
                problem = exc.what
        else:
            raise ScaffoldError(
                f"no acceptable {key} after {MAX_TRIES} tries: {problem}",
                "run `expedition new` again, or give the value with --set and --no-input",
                field=f"expedition.{key}" if key != "min_count" else "disclosure.min_count",
            )
    return values


def _ask_stdin(key: str, question: str, default: str, problem: str | None) -> str:
    if problem:
        print(problem)
    answer = input(f"{question} [{default}]: " if default else f"{question}: ")
    return answer or default


def _check_text(key: str, value: str) -> str:
    """Refuse what cannot be one line of text: control characters, line breaks, bad bytes."""
    for char in value:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise ScaffoldError(
                f"the {key} contains a character that cannot be part of it "
                f"(U+{ord(char):04X}, {unicodedata.name(char, 'a control character')})",
                f"write the {key} on one line, without control characters",
                field=None if key == "name" else _field(key),
            )
    return value


def _field(key: str) -> str:
    return "disclosure.min_count" if key == "min_count" else f"expedition.{key}"


def _check(key: str, value: str, earlier: dict[str, str]) -> str:
    """The normalised value of *key*, or a ScaffoldError saying what is wrong with it."""
    value = _check_text(key, str(value))
    if key == "title" and not value.strip():
        raise ScaffoldError("the title is empty", "give the expedition a title", field=_field(key))
    if key == "slug":
        slug = slugify(value)
        if not slug:
            raise ScaffoldError(
                f"{value!r} cannot be made into a short name (slug)",
                "use letters and digits, e.g. --set slug=rereferrals",
                field=_field(key),
            )
        problem = name_problem("slug", slug)
        if problem:
            raise ScaffoldError(problem, "choose a shorter name", field=_field(key))
        return slug
    if key in ("start", "end"):
        value = value.strip()
        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            day = date.fromisoformat(value)
        except ValueError:
            raise ScaffoldError(
                f"the {key} date {value!r} is not a date written as YYYY-MM-DD",
                "write it like 2026-11-24",
                field=_field(key),
            ) from None
        if key == "end" and earlier.get("start") and day < date.fromisoformat(earlier["start"]):
            raise ScaffoldError(
                f"the end date {value} is before the start date {earlier['start']}",
                "give an end date on or after the start",
                field=_field(key),
            )
        return day.isoformat()
    if key == "min_count":
        value = value.strip()
        if not _WHOLE.fullmatch(value) or int(value) < 1:
            raise ScaffoldError(
                f"the disclosure threshold min_count must be a whole number of at least 1, "
                f"not {value!r}",
                "give the smallest count that may be published, e.g. 10",
                field=_field(key),
            )
        return str(int(value))
    return value


def _partners(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _yaml_values(values: dict[str, str]) -> dict[str, str]:
    """Each value as the YAML that reads back as exactly that value (double-quoted strings)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    yaml = YAML(typ="rt")
    yaml.width = 2**30  # one line: a folded scalar would need the indentation of its place

    def dump(value: Any) -> str:
        stream = io.StringIO()
        yaml.dump({"v": value}, stream)
        return stream.getvalue().removeprefix("v: ").rstrip("\n")

    out = {key: dump(DoubleQuotedScalarString(values[key])) for key in ("title", "slug", "question", "lead")}
    partners = CommentedSeq([DoubleQuotedScalarString(p) for p in _partners(values["partners"])])
    partners.fa.set_flow_style()
    out["partners"] = dump(partners)
    out["start"], out["end"], out["min_count"] = values["start"], values["end"], values["min_count"]
    return out


def _check_read_back(config: Config, values: dict[str, str]) -> None:
    """The new expedition.yaml must hold exactly the values given (a guard on the template)."""
    info = config.expedition
    expected = {
        "title": values["title"],
        "slug": values["slug"],
        "question": values["question"],
        "partners": _partners(values["partners"]),
        "lead": values["lead"],
        "start": date.fromisoformat(values["start"]),
        "end": date.fromisoformat(values["end"]),
    }
    found = {key: getattr(info, key) for key in expected}
    found_count = config.disclosure.min_count
    wrong = [key for key in expected if found[key] != expected[key]]
    if found_count != int(values["min_count"]):
        wrong.append("min_count")
    if wrong:
        raise ScaffoldError(
            f"the new expedition.yaml does not hold the values given for: {', '.join(wrong)}",
            "this is a bug in expedition's project template; please report it with the values used",
        )


# --------------------------------------------------------------------------- rendering


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise ScaffoldError(
            f"{path} already exists; expedition new never overwrites a folder",
            "choose another name, or --output-dir somewhere else",
            path=path,
        )


def _render(work: Path, values: dict[str, str]) -> Path:
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
            no_input=True,
            # private keys: copied into the context as they are, never rendered as templates
            extra_context={"_text": dict(values), "_yaml": _yaml_values(values)},
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
            entry: dict[str, Any] = {"description": spec.description, "schema": f"schemas/{name}.yaml"}
            if spec.combine is not None:
                entry["combine"] = spec.combine
            datasets.setdefault(name, {**entry, "deliveries": []})
        document["datasets"] = datasets
        if card.derived:
            derived = document.get("derived") or {}
            for name, spec in card.derived.items():
                entry = spec.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
                if "\n" in spec.sql.strip():  # a query of several lines stays readable: a | block
                    from ruamel.yaml.scalarstring import LiteralScalarString

                    entry["sql"] = LiteralScalarString(spec.sql.rstrip("\n") + "\n")
                else:
                    entry["sql"] = spec.sql.strip()
                derived.setdefault(name, entry)
            document["derived"] = derived
        if card.links:
            links = document.get("links") or {}
            for name, link in card.links.items():
                links.setdefault(name, link.model_dump(exclude_none=True, exclude_defaults=True))
            document["links"] = links
        steps = document.get("steps") or []
        for step in card.steps:
            steps.append(step.model_dump(exclude_none=True))
        document["steps"] = steps

    update_config(root / CONFIG_FILE, change)
    guidance = f"# Recipe: {card.title}\n\n{card.summary}\n\n{card.guidance.strip()}\n"
    (root / "RECIPE.md").write_text(guidance, encoding="utf-8")
