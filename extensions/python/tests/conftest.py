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


@pytest.fixture(scope="session")
def plant_layout(cli: Path) -> Path:
    """``twinloom-plant-layout``: ``$TWINLOOM_PLANT_LAYOUT``, else next to the CLI (a failure when the CLI is
    required, else a skip)."""
    env = os.environ.get("TWINLOOM_PLANT_LAYOUT")
    p = Path(env) if env else cli.parent / "twinloom-plant-layout"
    if not p.is_file():
        if os.environ.get("TWINLOOM_REQUIRE_CLI") == "1":
            pytest.fail(f"no twinloom-plant-layout at {p} (cargo build -p twinloom-plant-layout)")
        pytest.skip(f"no twinloom-plant-layout at {p}")
    return p


# -- a service with write-back and history over the plant simulator (test_service.py, test_docs.py) -----

TOKENS = {"alice": "alice-token", "carol": "carol-token", "bob": "bob-token"}
ZONE1 = "/Plant/Paint/Oven/Zone01.twinloom:setpoint"
ZONE1_TEMPERATURE = "/Plant/Paint/Oven/Zone01.twinloom:temperature"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twin_config(stage_dir: Path, endpoint: str, listen: str) -> str:
    """A `twinloom run` configuration (docs/write-back.md, docs/history.md) over the plant simulator at
    ``endpoint``: the paint oven's three zones bound, level 4 (every write needs an approval), identities
    alice (operator), carol (operator, approver) and bob (viewer), Zone01's setpoint writable within
    100..230 in steps of at most 15 with an interlock on its temperature; journal and history on."""
    import hashlib

    sha = {n: hashlib.sha256(t.encode()).hexdigest() for n, t in TOKENS.items()}
    text = f"""
[stage]
dir = "{stage_dir}"
capability_level = 4
tick_ms = 20

[stream]
listen = "{listen}"

[journal]
enabled = true

[history]
enabled = true
flush_interval_s = 1

[[sources]]
name = "sim"
kind = "opcua"
endpoint = "{endpoint}"
publishing_interval_ms = 20
"""
    for zone in ("Zone01", "Zone02", "Zone03"):
        for node, attr in (("Setpoint", "twinloom:setpoint"), ("Temperature", "twinloom:temperature")):
            text += f"""
[[bindings]]
source = "sim"
node = "nsu=urn:twinloom:plant-sim;s=Plant/Paint/Oven/{zone}/{node}"
shop = "paint"
prim = "/Plant/Paint/Oven/{zone}"
attr = "{attr}"
type = "double"
"""
    text += f"""
[[identity]]
name = "alice"
token_sha256 = "{sha['alice']}"
roles = ["operator"]

[[identity]]
name = "carol"
token_sha256 = "{sha['carol']}"
roles = ["operator", "approver"]

[[identity]]
name = "bob"
token_sha256 = "{sha['bob']}"
roles = ["viewer"]

[[writable]]
target = "{ZONE1}"
roles = ["operator"]
min = 100.0
max = 230.0
max_step = 15.0
interlock = 'abs({{{ZONE1_TEMPERATURE}}} - current) <= 25'
tolerance = 0.001
verify_timeout_ms = 3000
"""
    return text


class Twin:
    """``twinloom-plant-sim`` and ``twinloom run`` over it (:func:`twin_config`) in ``folder``; ``url`` is the
    service's ``http://127.0.0.1:PORT``. :meth:`stop` ends both (SIGINT for the service)."""

    def __init__(self, cli: Path, folder: Path) -> None:
        import signal  # noqa: F401
        import time
        import urllib.request

        sim_bin = cli.parent / "twinloom-plant-sim"
        env = os.environ.get("TWINLOOM_PLANT_SIM")
        if env:
            sim_bin = Path(env)
        if not sim_bin.is_file():
            if os.environ.get("TWINLOOM_REQUIRE_CLI") == "1":
                pytest.fail(f"no twinloom-plant-sim at {sim_bin} (cargo build -p twinloom-simulator)")
            pytest.skip(f"no twinloom-plant-sim at {sim_bin}")
        folder.mkdir(parents=True, exist_ok=True)
        self.sim = subprocess.Popen([str(sim_bin), "--port", "0", "--seed", "3"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        self.svc: Optional[subprocess.Popen] = None
        try:
            endpoint = None
            deadline = time.monotonic() + 60
            while endpoint is None and time.monotonic() < deadline:
                line = self.sim.stdout.readline()
                if not line:
                    raise AssertionError(f"twinloom-plant-sim exited with {self.sim.wait()}")
                if " on opc.tcp://" in line:
                    endpoint = line.split(" on ", 1)[1].strip()
            assert endpoint, "twinloom-plant-sim printed no endpoint"
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            cfg = folder / "twinloom.toml"
            cfg.write_text(twin_config(folder / "stage", endpoint, f"127.0.0.1:{port}"))
            self.log = open(folder / "service.log", "w")
            self.svc = subprocess.Popen([str(cli), "run", "--config", str(cfg)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while True:
                assert self.svc.poll() is None, (
                    f"twinloom run exited with {self.svc.returncode}: {(folder / 'service.log').read_text()}")
                try:
                    with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "twinloom run did not come up"
                time.sleep(0.2)
            # Up and connected: the paint shop's snapshot holds Zone01's setpoint and temperature.
            while True:
                try:
                    with urllib.request.urlopen(self.url + "/v1/snapshot?shop=paint&format=json", timeout=5) as r:
                        paths = {e.get("path") for e in json.load(r).get("edits", [])}
                    if {ZONE1, ZONE1_TEMPERATURE} <= paths:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "the service never received Zone01's values"
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        import signal

        if self.svc is not None and self.svc.poll() is None:
            self.svc.send_signal(signal.SIGINT)
            try:
                self.svc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.svc.kill()
                self.svc.wait()
        if self.sim.poll() is None:
            self.sim.kill()
            self.sim.wait()
        if self.sim.stdout:
            self.sim.stdout.close()
