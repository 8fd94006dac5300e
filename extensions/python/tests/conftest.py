"""Shared fixtures of the wheel's tests: the repository root, the ``twinloom`` CLI to compare against, and
helpers that run it with ``--json``.

The CLI is found as ``$TWINLOOM_CLI``, else ``$CARGO_TARGET_DIR/{debug,release}/twinloom``, else the
repository's ``target/{debug,release}/twinloom``. Without one the comparison tests are skipped, unless
``TWINLOOM_REQUIRE_CLI=1`` (ci/python-wheel sets it), which makes a missing CLI a failure.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]


def _find_cli() -> Optional[Path]:
    env = os.environ.get("TWINLOOM_CLI")
    if env:
        return Path(env)
    targets = []
    if os.environ.get("CARGO_TARGET_DIR"):
        targets.append(Path(os.environ["CARGO_TARGET_DIR"]))
    targets.append(REPO / "target")
    for t in targets:
        for profile in ("debug", "release"):
            p = t / profile / "twinloom"
            if p.is_file():
                return p
    return None


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def cli() -> Path:
    p = _find_cli()
    if p is None or not p.is_file():
        if os.environ.get("TWINLOOM_REQUIRE_CLI") == "1":
            pytest.fail("TWINLOOM_REQUIRE_CLI=1 but no twinloom CLI found (set TWINLOOM_CLI)")
        pytest.skip("no twinloom CLI built (set TWINLOOM_CLI to compare the wheel with it)")
    return p


def run_json(cli: Path, *args: Any, ok_codes: tuple = (0,)) -> dict:
    """Runs ``twinloom ARGS`` and parses its JSON stdout; fails on an unexpected exit status."""
    out = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, timeout=600)
    assert out.returncode in ok_codes, f"twinloom {args} exited {out.returncode}: {out.stderr}"
    return json.loads(out.stdout)


def rust_round(x: float, scale: float) -> float:
    """``(x * scale).round() / scale`` as Rust computes it (halves away from zero), as the CLI rounds."""
    y = x * scale
    return math.copysign(math.floor(abs(y) + 0.5), y) / scale
