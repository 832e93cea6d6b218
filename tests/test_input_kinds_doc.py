"""The guides' table of live, structural and simulation inputs is the code's own.

docs/user-guide.md and docs/auditors-guide.md each hold the table that
``bondmodel.workbook.as_run.kinds_markdown`` generates from ``INPUT_RULES``;
``scripts/refresh-input-kinds`` rewrites them after a rule changes.
"""

from __future__ import annotations

import pytest

from bondmodel.workbook.as_run import DOC_END, DOC_START, kinds_markdown

from .conftest import ROOT


@pytest.mark.parametrize("doc", ["user-guide.md", "auditors-guide.md"])
def test_the_guides_list_the_input_kinds_the_code_applies(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    start, end = text.index(DOC_START), text.index(DOC_END) + len(DOC_END)
    assert text[start:end] == kinds_markdown(), f"refresh with scripts/refresh-input-kinds ({doc})"
