"""Bad inputs raise clear exceptions: TwinloomError subclasses carrying the Rust message, never a panic."""

from __future__ import annotations

import numpy as np
import pytest

import twinloom
from twinloom import FileError, FlowModel, InvalidInputError, Mesh, ParseError, Robot, TwinloomError
from conftest import REPO


def test_hierarchy():
    for e in (FileError, ParseError, InvalidInputError):
        assert issubclass(e, TwinloomError) and issubclass(e, Exception)


@pytest.mark.parametrize(
    "vertices,triangles,message",
    [
        ([[0, 0, 0], [1, 0, 0]], [[0, 1, 2]], "triangle 0 refers to vertex 2, but the mesh has 2 vertices"),
        ([[0, 0], [1, 0], [0, 1]], [[0, 1, 2]], "vertices: expected an array of shape (n, 3)"),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0.0, 1.0, 2.0]], "expected integer vertex indices"),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, -2]], "triangle 0 has the vertex index -2"),
        ([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], [[0, 1, 2]], "row 1 has a non-finite value"),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1]], "triangles: expected an array of shape (m, 3)"),
        ("abc", [[0, 1, 2]], "vertices: not an array of numbers"),
    ],
)
def test_bad_meshes(vertices, triangles, message):
    with pytest.raises(InvalidInputError) as e:
        Mesh(vertices, triangles)
    assert message in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(FileError, match="cannot read"):
        Mesh.load(tmp_path / "missing.obj")
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x\n")
    with pytest.raises(ParseError, match=r"bad.obj:4: "):
        Mesh.load(bad)
    ply = tmp_path / "mesh.ply"
    ply.write_text("ply\n")
    with pytest.raises(ParseError, match="unsupported mesh format"):
        Mesh.load(ply)
    csv = tmp_path / "p.csv"
    csv.write_text("id,x,y,z,qw,qx,qy,qz\nWP-1,0.5,zero,0.4,0,1,0,0\n")
    with pytest.raises(ParseError) as e:
        twinloom.load_weld_points(csv)
    assert str(e.value).endswith("p.csv:2: field 'y': 'zero' is not a finite number")


def test_bad_distance_arguments():
    a = Mesh.box((0.5, 0.5, 0.5))
    with pytest.raises(InvalidInputError, match="mesh b has no triangles"):
        twinloom.distance(a, Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int)))
    with pytest.raises(InvalidInputError, match="pose_b: expected a 4x4"):
        twinloom.distance(a, a, None, np.eye(3))
    with pytest.raises(InvalidInputError, match="not a rotation"):
        twinloom.distance(a, a, None, np.diag([2.0, 1.0, 1.0, 1.0]))
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    with pytest.raises(InvalidInputError, match="not a rotation"):
        twinloom.distance(a, a, mirror)
    with pytest.raises(InvalidInputError, match=r"last row of a 4x4 pose must be \[0, 0, 0, 1\]"):
        twinloom.distance(a, a, None, np.ones((4, 4)))
    with pytest.raises(TypeError):
        twinloom.distance(a, "not a mesh")
    with pytest.raises(InvalidInputError, match="radius must be a finite number > 0"):
        Mesh.sphere(-1.0)


def test_bad_robot_arguments():
    with pytest.raises(InvalidInputError, match="unknown robot model 'abb-irb9999'"):
        Robot("abb-irb9999")
    r = Robot("abb-irb2400")
    with pytest.raises(InvalidInputError, match=r"joints: expected 6 values"):
        r.forward([0.0] * 5)
    with pytest.raises(InvalidInputError, match="finite"):
        r.forward([0.0, 0.0, np.inf, 0.0, 0.0, 0.0])
    p = twinloom.pose((1.2, 0.0, 0.8), (0, 1, 0, 0))
    with pytest.raises(InvalidInputError, match="search_mm must be a finite number > 0"):
        twinloom.reach(r, [("P", p)], search_mm=-1.0)
    with pytest.raises(InvalidInputError, match="spin_tolerance_deg"):
        twinloom.reach(r, [("P", p)], spin_tolerance_deg=float("nan"))
    with pytest.raises(InvalidInputError, match=r"points\[0\]: expected an \(id, pose\) pair"):
        twinloom.reach(r, [p])
    with pytest.raises(InvalidInputError, match="quaternion"):
        twinloom.pose((0, 0, 0), (0, 0, 0, 0))


def test_bad_balances(tmp_path):
    with pytest.raises(InvalidInputError, match="the precedence graph has a cycle"):
        twinloom.balance([1, 2, 3], [(1, 2), (2, 3), (3, 1)], cycle_time=5)
    with pytest.raises(InvalidInputError, match=r"names a task outside 1..=3"):
        twinloom.balance([1, 2, 3], [(1, 4)], cycle_time=5)
    with pytest.raises(InvalidInputError, match=r"precedences\[0\]\[0\]: expected an integer >= 1, got 0"):
        twinloom.balance([1, 2, 3], [(0, 1)], cycle_time=5)
    with pytest.raises(InvalidInputError, match="not both"):
        twinloom.balance([1, 2, 3], cycle_time=5, stations=2)
    with pytest.raises(InvalidInputError, match="give cycle_time"):
        twinloom.balance([1, 2, 3])
    with pytest.raises(TwinloomError):
        twinloom.balance([1, 9, 3], cycle_time=5)
    with pytest.raises(InvalidInputError, match="time_limit"):
        twinloom.balance([1, 2, 3], cycle_time=5, time_limit=-1.0)
    with pytest.raises(InvalidInputError, match=r"times\[1\]: expected an integer >= 0, got -2"):
        twinloom.balance([1, -2, 3], cycle_time=5)
    with pytest.raises(InvalidInputError, match=r"times\[0\]: expected an integer >= 0, got 1.5"):
        twinloom.balance([1.5], cycle_time=5)
    with pytest.raises(InvalidInputError, match=r"cycle_time: expected an integer >= 1, got 0"):
        twinloom.balance([1, 2], cycle_time=0)
    with pytest.raises(InvalidInputError, match=r"precedences\[0\]: expected a pair"):
        twinloom.balance([1, 2], [(1, 2, 3)], cycle_time=5)
    with pytest.raises(FileError):
        twinloom.balance_file(tmp_path / "none.IN2", cycle_time=5)
    bad = tmp_path / "bad.IN2"
    bad.write_text("3\n1\n2\nx\n")
    with pytest.raises(ParseError, match=r"bad.IN2:4"):
        twinloom.balance_file(bad, cycle_time=5)


def test_bad_models(tmp_path):
    with pytest.raises(ParseError, match=r"^model:2: "):
        FlowModel.parse("[line]\nname = \n")
    with pytest.raises(InvalidInputError, match="neither a \\[line\\] nor a \\[paint\\] table"):
        FlowModel.parse("")
    with pytest.raises(FileError):
        FlowModel.load(tmp_path / "none.toml")
    line_only = FlowModel.parse(
        '[line]\nname = "L"\nhorizon_h = 1\nwarmup_h = 0\nsource = { kind = "saturated" }\n'
        '[[line.stations]]\nname = "S"\ntime = { dist = "const", value = 1.0 }\n'
    )
    assert line_only.has_line and not line_only.has_paint
    with pytest.raises(InvalidInputError, match="has no \\[paint\\] table"):
        line_only.paint()
    line = FlowModel.load(REPO / "samples" / "models" / "assembly_line.toml")
    with pytest.raises(InvalidInputError, match="replications"):
        line.simulate(replications=0)
    with pytest.raises(TwinloomError):
        line.simulate(maxplus=True)  # failures and shifts: not a plain serial line
