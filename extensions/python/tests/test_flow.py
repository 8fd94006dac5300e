"""Flow through the wheel: SALBP-1/2 balances equal ``twinloom balance --json`` (and the published optima
of Scholl's instances), simulations and the paint-shop model equal ``twinloom flow --json``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import twinloom
from twinloom import FlowModel
from conftest import REPO, run_json

DATA = REPO / "extensions" / "flow" / "tests" / "data"
SCHOLL = DATA / "scholl"
MODELS = REPO / "samples" / "models"

# Instances spread over the data set's sizes (7 to 111 tasks), each at one of its published cycle times.
INSTANCES = ["JACKSON.IN2", "MITCHELL.IN2", "HESKIA.IN2", "SAWYER30.IN2", "KILBRID.IN2", "TONGE70.IN2", "ARC111.IN2"]


def optima() -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    with open(DATA / "scholl_salbp1_optima.csv") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["graph"], []).append((int(row["cycle_time"]), int(row["optimal_stations"])))
    return out


def comparable(b: twinloom.Balance) -> dict:
    """The balance as the CLI's JSON object, less the wall time and the file name."""
    return {
        "mode": b.mode,
        "tasks": b.tasks,
        "total_time": b.total_time,
        "cycle_time": b.cycle_time,
        "cycle_time_lower_bound": b.cycle_time_lower_bound,
        "stations": b.stations,
        "lower_bound": b.lower_bound,
        "optimal": b.optimal,
        "nodes": b.nodes,
        "assignment": [
            {
                "station": s.station,
                "tasks": list(s.tasks),
                "load": s.load,
                "idle": s.idle,
                "utilisation": s.utilisation,
                "ergonomics": s.ergonomics,
            }
            for s in b.assignment
        ],
    }


def cli_comparable(ref: dict) -> dict:
    return {k: v for k, v in ref.items() if k not in ("seconds", "file")}


def read_in2(path: Path) -> tuple[list[int], list[tuple[int, int]]]:
    nums = path.read_bytes().decode("latin-1").split()
    n = int(nums[0])
    times = [int(x) for x in nums[1 : n + 1]]
    prec = []
    for tok in nums[n + 1 :]:
        i, j = (int(x) for x in tok.split(","))
        if (i, j) == (-1, -1):
            break
        prec.append((i, j))
    return times, prec


@pytest.mark.parametrize("name", INSTANCES)
def test_salbp1_equals_cli_and_optimum(cli, name):
    cycle, best = optima()[name][0]
    b = twinloom.balance_file(SCHOLL / name, cycle_time=cycle)
    assert b.optimal and b.stations == best and b.mode == "salbp1"
    ref = run_json(cli, "balance", SCHOLL / name, "--cycle-time", cycle, "--json")
    assert comparable(b) == cli_comparable(ref)
    assert b.file == str(SCHOLL / name)
    # The same instance from lists of times and precedences.
    times, prec = read_in2(SCHOLL / name)
    b2 = twinloom.balance(times, prec, cycle_time=cycle)
    assert comparable(b2) == comparable(b)


def test_salbp2_equals_cli(cli):
    b = twinloom.balance_file(SCHOLL / "MITCHELL.IN2", stations=5)
    ref = run_json(cli, "balance", SCHOLL / "MITCHELL.IN2", "--stations", 5, "--json")
    assert b.mode == "salbp2" and b.optimal
    assert b.cycle_time == b.cycle_time_lower_bound
    assert comparable(b) == cli_comparable(ref)


def test_zoning_and_alb_equal_cli(cli):
    z = dict(together=[(1, 3)], apart=[(2, 4), (5, 6)])
    b = twinloom.balance_file(SCHOLL / "JACKSON.IN2", cycle_time=13, **z)
    ref = run_json(
        cli, "balance", SCHOLL / "JACKSON.IN2", "--cycle-time", 13, "--together", "1,3", "--apart", "2,4",
        "--apart", "5,6", "--json",
    )
    assert comparable(b) == cli_comparable(ref)
    st = {t: s.station for s in b.assignment for t in s.tasks}
    assert st[1] == st[3] and st[2] != st[4] and st[5] != st[6]
    # An .alb file carries its own cycle time.
    b = twinloom.balance_file(DATA / "JACKSON.alb")
    ref = run_json(cli, "balance", DATA / "JACKSON.alb", "--json")
    assert comparable(b) == cli_comparable(ref)


def test_small_balance_by_hand():
    # 1 -> 2 -> 3 with 4 + 4 + 4 at cycle time 8: two stations {1, 2} and {3}.
    b = twinloom.balance([4, 4, 4], [(1, 2), (2, 3)], cycle_time=8)
    assert b.stations == 2 and b.optimal and [s.tasks for s in b.assignment] == [(1, 2), (3,)]
    b = twinloom.balance([4, 4, 4], [(1, 2), (2, 3)], stations=3)
    assert b.cycle_time == 4 and b.cycle_time_lower_bound == 4


@pytest.mark.parametrize("scenario", [None, "faster_alignment.toml"])
def test_simulation_equals_cli(cli, scenario):
    model = MODELS / "assembly_line.toml"
    args = ["flow", "--model", model, "--replications", 3, "--seed", 7, "--json"]
    sc = None if scenario is None else MODELS / "scenarios" / scenario
    if sc is not None:
        args += ["--scenario", sc]
    ref = run_json(cli, *args)
    m = FlowModel.load(model, sc)
    assert m.has_line and m.line_name == "AssemblyLine"
    assert m.simulate(replications=3, seed=7) == ref["line"]


def test_maxplus_equals_cli(cli, tmp_path):
    text = """
[line]
name = "Plain"
horizon_h = 20
warmup_h = 2
source = { kind = "saturated" }
[[line.stations]]
name = "S1"
time = { dist = "exp", mean = 50.0 }
next = { capacity = 2 }
[[line.stations]]
name = "S2"
time = { dist = "uniform", min = 40.0, max = 60.0 }
next = { capacity = 1 }
[[line.stations]]
name = "S3"
time = { dist = "const", value = 49.0 }
"""
    f = tmp_path / "plain.toml"
    f.write_text(text)
    ref = run_json(cli, "flow", "--model", f, "--replications", 5, "--seed", 3, "--gpu", "off", "--json")
    got = FlowModel.parse(text).simulate(replications=5, seed=3, maxplus=True)
    assert got == ref["maxplus"]
    assert got["device"] == "cpu"


@pytest.mark.parametrize("scenario", [None, "oven_175.toml"])
def test_paint_equals_cli(cli, scenario):
    model = MODELS / "paint_shop.toml"
    args = ["flow", "--model", model, "--json"]
    sc = None if scenario is None else MODELS / "scenarios" / scenario
    if sc is not None:
        args += ["--scenario", sc]
    ref = run_json(cli, *args)
    m = FlowModel.load(model, sc)
    assert m.paint() == ref["paint"]
    assert m.to_dict()["paint"]["oven"]["setpoint_c"] == (175.0 if sc else 165.0)
