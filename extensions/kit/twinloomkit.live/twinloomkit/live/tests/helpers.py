"""Shared helpers of the extension's tests: the base test class (omni.kit.test's where Kit has it, else
unittest's, whose async tests extensions/kit/run_tests.py awaits on Kit's loop), the repository and the
``twinloom`` binaries, a free port, starting ``twinloom demo``, and reading a layer's attributes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Tuple

try:
    import omni.kit.test  # type: ignore[import-not-found]

    TestCase = omni.kit.test.AsyncTestCase
except ImportError:
    import unittest

    TestCase = unittest.TestCase

#: The repository (the extension lives at extensions/kit/twinloomkit.live/twinloomkit/live/tests).
REPO = Path(os.environ.get("TWINLOOM_REPO") or Path(__file__).resolve().parents[6])


def cli() -> Path:
    """The ``twinloom`` CLI: ``$TWINLOOM_CLI``, else the repository's target/debug/twinloom."""
    env = os.environ.get("TWINLOOM_CLI")
    p = Path(env) if env else REPO / "target" / "debug" / "twinloom"
    if not p.is_file():
        raise AssertionError(f"no twinloom CLI at {p} (build it: cargo build -p twinloom, or set TWINLOOM_CLI)")
    return p


def plant_layout() -> Path:
    """``twinloom-plant-layout``: ``$TWINLOOM_PLANT_LAYOUT``, else next to the CLI."""
    env = os.environ.get("TWINLOOM_PLANT_LAYOUT")
    p = Path(env) if env else cli().parent / "twinloom-plant-layout"
    if not p.is_file():
        raise AssertionError(f"no twinloom-plant-layout at {p} (cargo build -p twinloom-plant-layout)")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """``twinloom demo --listen 127.0.0.1:PORT --out DIR``, up and healthy; stopped with SIGINT."""

    def __init__(self, out: Path) -> None:
        self.port = free_port()
        self.out = out
        self.log_path = out.parent / "demo.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(cli()), "demo", "--listen", f"127.0.0.1:{self.port}", "--out", str(out)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"twinloom demo exited early with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("twinloom demo did not come up")
            time.sleep(0.2)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def interrupt(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def attributes(layer: Any) -> Dict[str, Tuple[str, Any]]:
    """Every attribute spec of ``layer``: path -> (type name, default)."""
    found: Dict[str, Any] = {}
    layer.Traverse("/", lambda p: found.__setitem__(str(p), layer.GetAttributeAtPath(p)) if p.IsPropertyPath() else None)
    return {p: (str(a.typeName), a.default) for p, a in found.items() if a}


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
