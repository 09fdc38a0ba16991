"""Every delivery of `_drafts` gives the same draft as the golden file recorded for it."""

from __future__ import annotations

import difflib

import pytest

from _drafts import FIXTURES, GOLDEN


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_the_draft_is_the_recorded_one(name, tmp_path):
    golden = GOLDEN / f"{name}.yaml"
    draft = FIXTURES[name](tmp_path)
    if draft is None:
        pytest.skip(f"{name}: its data are not available here")
    expected = golden.read_text(encoding="utf-8")
    if draft != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), draft.splitlines(keepends=True),
                                            "recorded", "drafted now", n=1))
        pytest.fail(f"the draft of {name} changed:\n{diff}")
