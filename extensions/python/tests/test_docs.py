"""Every ```python example of docs/python.md runs (in order, in one namespace, from the repository root),
so the documentation cannot show code that does not work."""

from __future__ import annotations

import os
import re

from conftest import REPO

DOC = REPO / "docs" / "python.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_docs_have_examples():
    assert len(blocks()) >= 5


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("TWINLOOM_DOC_TMP", str(tmp_path))
    ns: dict = {"__name__": "docs_python_md"}
    for i, code in enumerate(blocks()):
        try:
            exec(compile(code, f"docs/python.md block {i + 1}", "exec"), ns)
        except Exception as e:  # pragma: no cover - reported with the block's number
            raise AssertionError(f"docs/python.md block {i + 1} failed: {e!r}\n{code}") from e
    assert os.path.isdir(tmp_path)
