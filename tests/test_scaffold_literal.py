"""`expedition new` keeps every value literally: NAME, --set values and prompt answers are data,
never Jinja templates, whatever they hold.

Each attack uses a payload that would create a marker file if Jinja ran it, and checks that the
marker never appears and that the value reads back exactly (or is refused with a clear message).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.config import load_config
from expedition.errors import ScaffoldError
from expedition.scaffold import new_project, slugify, template_dir

from _text import flat

MARKER = Path(tempfile.gettempdir()) / f"expedition-jinja-ran-{os.getpid()}"


def payloads(marker: str | Path) -> list[str]:
    """Template code that creates *marker* when rendered by Jinja (cookiecutter's environment)."""
    return [
        f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}",
        f"{{% raw %}}x{{% endraw %}}{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}",
        f"{{% endraw %}}{{{{ joiner.__init__.__globals__.os.popen('touch {marker}').read() }}}}{{% raw %}}",
        f"{{% set x = namespace.__init__.__globals__.os.popen('touch {marker}').read() %}}",
        f"{{# comment #}}{{{{ lipsum.__globals__['os'].popen('touch {marker}').read() }}}}",
    ]


YAML_SPECIALS = ["null", "~", "yes", "no", "on", "true", "1e3", "0x1F", "- a", "a: b", "#x", "a # b",
                 "'", '"', "&a", "*a", "!!python/object/apply:os.system ['true']", "%YAML 1.1",
                 "---", "...", "@x", "`x`", "[a, b]", "{a: b}", "|", ">", "\\", "\\n", " lead "]
FIELDS = ["title", "question", "partners", "lead"]


def refused_character(text: str) -> bool:
    return any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in text)


def text_values() -> st.SearchStrategy[str]:
    attacks = payloads(MARKER) + YAML_SPECIALS + ["{{ 7*7 }}", "{% raw %}", "{% endraw %}", "{{", "}}"]
    around = st.text(max_size=12)
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(attacks),
        st.builds(lambda a, p, b: a + p + b, around, st.sampled_from(attacks), around),
    )


def no_marker() -> None:
    assert not MARKER.exists(), "a value was executed as a template"


@pytest.fixture(autouse=True)
def _clean_marker():
    MARKER.unlink(missing_ok=True)
    yield
    existed = MARKER.exists()
    MARKER.unlink(missing_ok=True)
    assert not existed, "a value was executed as a template"


# --------------------------------------------------------------------------- the design's premise


def test_cookiecutter_renders_public_values_but_copies_private_ones(tmp_path):
    """Why the template has no public variables: cookiecutter renders a value given for one as
    Jinja (so `{{ 7*7 }}` becomes 49), while it copies `_` keys as they are. If a cookiecutter
    release changes the second half, this test says so."""
    from cookiecutter.main import cookiecutter

    template = tmp_path / "template"
    (template / "{{ cookiecutter._text.name }}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text(json.dumps({"public": "", "_text": {}}))
    (template / "{{ cookiecutter._text.name }}" / "out.txt").write_text(
        "{{ cookiecutter.public }}|{{ cookiecutter._text.value }}"
    )
    config = tmp_path / "config.yaml"  # keeps cookiecutter's replay files out of the home folder
    config.write_text(f"cookiecutters_dir: {json.dumps(str(tmp_path / 'c'))}\n"
                      f"replay_dir: {json.dumps(str(tmp_path / 'r'))}\n")
    result = cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out"),
                          extra_context={"public": "{{ 7*7 }}", "_text": {"name": "p", "value": "{{ 7*7 }}"}},
                          config_file=str(config))
    assert (Path(result) / "out.txt").read_text() == "49|{{ 7*7 }}"


def test_the_template_uses_only_private_values():
    context = json.loads((template_dir() / "cookiecutter.json").read_text())
    assert all(key.startswith("_") for key in context), "a public variable would be rendered as Jinja"
    used = set()
    for path in template_dir().rglob("*"):
        if path.name == "cookiecutter.json":
            continue
        text = str(path.relative_to(template_dir())) + (path.read_text() if path.is_file() else "")
        used |= set(re.findall(r"cookiecutter\.(\w+)", text))
    assert used and used <= {"_text", "_yaml"}, used


# --------------------------------------------------------------------------- the CLI


def test_set_payloads_are_kept_literally_through_the_cli(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    attack = "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}"
    result = cli("new", "x", "--no-input", "--set", f"lead={attack}", "--set", "title={{ 7*7 }}",
                 "--set", f"question={{% endraw %}}{attack}", "--set", f"partners=A, {attack}")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "pwned").exists()
    config = load_config(tmp_path / "x")
    assert config.expedition.title == "{{ 7*7 }}"
    assert config.expedition.lead == attack
    assert config.expedition.question == "{% endraw %}" + attack
    assert config.expedition.partners == ["A", attack]
    readme = (tmp_path / "x" / "README.md").read_text()
    assert readme.startswith("# {{ 7*7 }}\n") and attack in readme
    assert attack in (tmp_path / "x" / "ETHICS.md").read_text()
    assert "{{ 7*7 }}" in (tmp_path / "x" / "DATA_SHARING.md").read_text()


def test_a_payload_as_name_is_kept_literally(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}"
    result = cli("new", name, "--no-input")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "pwned").exists()
    folder = tmp_path / slugify(name)
    config = load_config(folder)
    # the title is made from NAME as always ('-' and '_' read as spaces), with nothing run
    assert config.expedition.title == name.replace("_", " ").capitalize()
    assert config.expedition.slug == folder.name


def test_prompt_answers_are_kept_literally(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    attack = "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}"
    answers = [attack, "", "{% raw %}{{ 7*7 }}{% endraw %}", f"{attack}, B", attack,
               "2026-12-01", "2027-01-15", "5"]
    result = cli("new", "--set", "title={{ 6*7 }}", input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "[{{ 6*7 }}]" in result.output  # the --set value offered as the default, unrendered
    assert not (tmp_path / "pwned").exists()
    folder = tmp_path / slugify(attack)
    config = load_config(folder)
    assert config.expedition.title == attack and config.expedition.lead == attack
    assert config.expedition.question == "{% raw %}{{ 7*7 }}{% endraw %}"
    assert config.expedition.partners == [attack, "B"]


def test_a_default_that_looks_like_a_template_is_offered_and_kept_as_written(cli, tmp_path):
    answers = "\n" * 8
    result = cli("new", "{{ 7*7 }}", "-o", str(tmp_path), "--set", "lead={{ 7*7 }}", input=answers)
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "7-7")
    assert config.expedition.title == "{{ 7*7 }}" and config.expedition.lead == "{{ 7*7 }}"


def test_a_refused_answer_is_asked_again_with_the_reason(cli, tmp_path):
    answers = ["T", "", "", "", "", "soon", "2026-12-01", "2027-01-31", "ten", "3"]
    result = cli("new", "-o", str(tmp_path), input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "'soon' is not a date written as YYYY-MM-DD" in flat(result.stderr)
    assert "whole number of at least 1, not 'ten'" in flat(result.stderr)
    config = load_config(tmp_path / "t")
    assert str(config.expedition.start) == "2026-12-01" and config.disclosure.min_count == 3


@pytest.mark.parametrize(
    "pair, message",
    [
        ("slug=a\nb", "U+000A"),
        ("title=a\nseed: 7", "U+000A"),
        ("min_count=10\n  round_to: 3", "U+000A"),
        ("min_count=10, round_to: 3", "whole number"),
        ("start=2026-01-01 # x", "YYYY-MM-DD"),
        ("end=2026-1-31", "YYYY-MM-DD"),
        ("end=2025-01-01", "before the start date"),
        ("title=", "title is empty"),
        ("slug=" + "a" * 65, "1 to 64 characters"),
        ("slug=!!!", "cannot be made into a short name"),
        ("lead=A\u2028B", "U+2028"),
        ("lead=A\x00B", "U+0000"),
    ],
)
def test_values_that_cannot_be_valid_are_refused_clearly(cli, tmp_path, pair, message):
    result = cli("new", "x", "--no-input", "-o", str(tmp_path), "--set", "start=2026-01-01",
                 "--set", "end=2026-02-01", "--set", pair)
    assert result.exit_code == 2, result.output
    assert message in flat(result.stderr) and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_long_name_is_refused_and_a_long_title_is_shortened(tmp_path):
    with pytest.raises(ScaffoldError, match="1 to 64 characters"):
        new_project("d" * 300, output_dir=tmp_path, no_input=True)
    root = new_project(None, output_dir=tmp_path, no_input=True, settings={"title": "word " * 60})
    assert len(root.name) <= 64 and load_config(root).expedition.title == "word " * 60


# --------------------------------------------------------------------------- every field, any text


def expect_literal(root: Path, field: str, value: str) -> None:
    config = load_config(root)
    if field == "partners":
        assert config.expedition.partners == [p.strip() for p in value.split(",") if p.strip()]
    else:
        assert getattr(config.expedition, field) == value
    if field in ("title", "question", "partners"):
        assert value in (root / "README.md").read_text(encoding="utf-8")
        assert value in (root / "ETHICS.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=text_values())
def test_any_text_in_any_field_is_kept_or_refused(field, value):
    with tempfile.TemporaryDirectory() as out:
        try:
            root = new_project("x", output_dir=out, no_input=True, settings={field: value},
                               today=date(2026, 11, 24))
        except ScaffoldError as exc:
            no_marker()
            assert refused_character(value) or (field == "title" and not value.strip()), exc.message
            assert exc.field == f"expedition.{field}"
            assert os.listdir(out) == []
            return
        no_marker()
        assert not refused_character(value)
        expect_literal(root, field, value)


@settings(max_examples=40, deadline=None)
@given(name=text_values(), slug=st.none() | text_values())
def test_any_name_or_slug_makes_a_valid_folder_or_is_refused(name, slug):
    with tempfile.TemporaryDirectory() as out:
        settings_ = {} if slug is None else {"slug": slug}
        try:
            root = new_project(name or None, output_dir=out, no_input=True, settings=settings_)
        except ScaffoldError as exc:
            no_marker()
            assert os.listdir(out) == []
            assert exc.fix
            return
        no_marker()
        config = load_config(root)
        expected = slugify(slug) if slug is not None else slugify(Path(name).name) if name else None
        if expected is not None:
            assert config.expedition.slug == expected
        assert root.name == config.expedition.slug and root.parent == Path(out).resolve()


@settings(max_examples=25, deadline=None)
@given(answers=st.fixed_dictionaries({field: text_values() for field in FIELDS}))
def test_any_prompt_answer_is_kept_or_asked_again(answers):
    """The interactive path: answers reach the files literally; a refused one is asked again."""
    problems: list[str] = []

    def ask(key: str, question: str, default: str, problem: str | None) -> str:
        if problem:
            problems.append(problem)
            return {"title": "Title", "slug": "fallback"}.get(key, default)
        return answers.get(key, default)

    with tempfile.TemporaryDirectory() as out:
        root = new_project(None, output_dir=out, ask=ask, settings={"start": "2026-01-01", "end": "2026-02-01"})
        no_marker()
        config = load_config(root)
        for field, value in answers.items():
            if refused_character(value) or (field == "title" and not value.strip()):
                continue
            expect_literal(root, field, value)
        refused = [f for f, v in answers.items() if refused_character(v) or (f == "title" and not v.strip())]
        assert len(problems) >= len(refused)
        assert config.expedition.slug == root.name
