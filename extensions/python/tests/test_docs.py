"""Every ```python example of docs/python.md runs (in order, in one namespace, from the repository root),
so the documentation cannot show code that does not work.

The live client's example follows a real service: a ``twinloom demo`` on a free loopback port, named to the
example in ``TWINLOOM_LIVE``. The stage study's example reads the sample plant's new variant
(``twinloom-plant-layout --variant new`` under a root layer), named in ``TWINLOOM_STAGE``; the service
client's example talks to ``twinloom run`` over the plant simulator (conftest.Twin), named in
``TWINLOOM_SERVICE`` with its tokens. Without a CLI (and without ``TWINLOOM_REQUIRE_CLI=1``) the blocks that
need it are skipped, and without pxr (usd-core) the blocks that import it, so the rest still runs."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, TOKENS, Twin, _find_cli

DOC = REPO / "docs" / "python.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_docs_have_examples():
    assert len(blocks()) >= 5


def start_demo(tmp_path):
    """A ``twinloom demo`` on a free loopback port, up; ``(process, "127.0.0.1:PORT")``, or None without a CLI."""
    cli = _find_cli()
    if cli is None or not cli.is_file():
        assert os.environ.get("TWINLOOM_REQUIRE_CLI") != "1", "TWINLOOM_REQUIRE_CLI=1 but no twinloom CLI found"
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(cli), "demo", "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "demo"), "--seconds", "300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"twinloom demo exited early with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("twinloom demo did not come up")


def make_stage(tmp_path):
    """The sample plant's new variant under a root layer; its path, or None without the tools."""
    cli = _find_cli()
    layout = Path(os.environ.get("TWINLOOM_PLANT_LAYOUT") or (cli.parent / "twinloom-plant-layout" if cli else ""))
    if cli is None or not layout.is_file():
        assert os.environ.get("TWINLOOM_REQUIRE_CLI") != "1", f"TWINLOOM_REQUIRE_CLI=1 but no {layout}"
        return None
    d = tmp_path / "plant"
    d.mkdir()
    subprocess.run([str(layout), "--variant", "new", str(d / "layout.usda")], check=True, capture_output=True,
                   timeout=300)
    (d / "plant.usda").write_text('#usda 1.0\n(\n    defaultPrim = "Plant"\n    metersPerUnit = 1\n'
                                  '    upAxis = "Z"\n    subLayers = [@./layout.usda@]\n)\n')
    return d / "plant.usda"


def test_docs_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("TWINLOOM_DOC_TMP", str(tmp_path))
    have_pxr = importlib.util.find_spec("pxr") is not None
    demo = None
    twin = None
    ns: dict = {"__name__": "docs_python_md"}
    try:
        for i, code in enumerate(blocks()):
            if ("from pxr" in code or "twinloom.biw" in code) and not have_pxr:
                continue
            if "TWINLOOM_STAGE" in code:
                stage = make_stage(tmp_path)
                if stage is None:
                    continue
                monkeypatch.setenv("TWINLOOM_STAGE", str(stage))
            if "TWINLOOM_SERVICE" in code:
                cli = _find_cli()
                if cli is None or not cli.is_file():
                    assert os.environ.get("TWINLOOM_REQUIRE_CLI") != "1", "TWINLOOM_REQUIRE_CLI=1 but no CLI"
                    continue
                try:
                    twin = Twin(cli, tmp_path / "twin")
                except pytest.skip.Exception:
                    continue
                monkeypatch.setenv("TWINLOOM_SERVICE", twin.url)
                monkeypatch.setenv("TWINLOOM_OPERATOR_TOKEN", TOKENS["alice"])
                monkeypatch.setenv("TWINLOOM_APPROVER_TOKEN", TOKENS["carol"])
            if "TWINLOOM_LIVE" in code:
                if demo is None:
                    demo = start_demo(tmp_path)
                if demo is None:
                    continue
                monkeypatch.setenv("TWINLOOM_LIVE", demo[1])
            try:
                exec(compile(code, f"docs/python.md block {i + 1}", "exec"), ns)
            except Exception as e:  # pragma: no cover - reported with the block's number
                raise AssertionError(f"docs/python.md block {i + 1} failed: {e!r}\n{code}") from e
    finally:
        if twin is not None:
            twin.stop()
        if demo is not None:
            demo[0].send_signal(signal.SIGINT)
            try:
                demo[0].wait(timeout=30)
            except subprocess.TimeoutExpired:
                demo[0].kill()
                demo[0].wait()
    assert os.path.isdir(tmp_path)
