"""BIW through the wheel: distances, penetration depth, kinematics and reach equal the CLI's
(``twinloom analyze distance|reach --json``) on the same inputs; argument checks and GIL release."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import twinloom
from twinloom import InvalidInputError, Mesh, Robot
from conftest import rust_round, run_json


def blob(seed: int, radius: float, rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A closed, bumpy sphere: a UV sphere whose vertices are pushed in and out by a smooth pattern."""
    s = Mesh.sphere(radius, rings, segments)
    v = s.vertices.copy()
    rng = np.random.default_rng(seed)
    k = rng.uniform(2.0, 5.0, size=3)
    bump = 1.0 + 0.05 * np.sin(k[0] * v[:, 0] / radius) * np.cos(k[1] * v[:, 1] / radius + k[2] * v[:, 2] / radius)
    return v * bump[:, None], s.triangles.astype(np.int64)


def write_obj(path: Path, v: np.ndarray, t: np.ndarray) -> None:
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in v.tolist()]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in t.tolist()]
    path.write_text("\n".join(lines) + "\n")


def write_stl(path: Path, v: np.ndarray, t: np.ndarray) -> None:
    lines = ["solid s"]
    v = v.tolist()
    for tri in t.tolist():
        lines += ["facet normal 0 0 0", "outer loop"]
        lines += [f"vertex {v[i][0]!r} {v[i][1]!r} {v[i][2]!r}" for i in tri]
        lines += ["endloop", "endfacet"]
    lines.append("endsolid s")
    path.write_text("\n".join(lines) + "\n")


def moved(v: np.ndarray, pose: np.ndarray) -> np.ndarray:
    return v @ pose[:3, :3].T + pose[:3, 3]


CASES = [
    # (name, pose of B): apart, close, intersecting.
    ("apart", twinloom.pose((0.9, 0.1, -0.05), (0.9, 0.1, 0.3, -0.2))),
    ("close", twinloom.pose((0.555, 0.02, 0.01), (0.7, -0.3, 0.1, 0.6))),
    ("intersecting", twinloom.pose((0.35, -0.05, 0.02), (0.2, 0.9, -0.1, 0.3))),
]


@pytest.mark.parametrize("name,pose_b", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("fmt", ["obj", "stl"])
def test_distance_equals_cli(cli, tmp_path, name, pose_b, fmt):
    va, ta = blob(1, 0.3, 24, 48)
    vb, tb = blob(2, 0.25, 20, 40)
    vb = moved(vb, pose_b)
    pa, pb = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    (write_obj if fmt == "obj" else write_stl)(pa, va, ta)
    (write_obj if fmt == "obj" else write_stl)(pb, vb, tb)
    ref = run_json(cli, "analyze", "distance", pa, pb, "--json")
    a, b = Mesh.load(pa), Mesh.load(pb)
    d = twinloom.distance(a, b)
    assert a.triangle_count == ref["triangles_a"] and b.triangle_count == ref["triangles_b"]
    assert d.intersect == ref["intersect"] == (name == "intersecting")
    assert abs(d.distance - ref["distance_m"]) <= 1e-9
    assert np.allclose(d.point_a, ref["closest_point_a"], rtol=0, atol=1e-9)
    assert np.allclose(d.point_b, ref["closest_point_b"], rtol=0, atol=1e-9)
    assert (d.triangle_a, d.triangle_b) == (ref["triangle_a"], ref["triangle_b"])
    if d.intersect:
        depth = twinloom.penetration_depth(a, b)
        assert depth > 0 and abs(depth - ref["penetration_depth_m"]) <= 1e-9
    else:
        assert ref["penetration_depth_m"] is None
    if fmt == "obj":
        # The same mesh from numpy arrays gives the same answer, bit for bit.
        d2 = twinloom.distance(Mesh(va, ta), Mesh(vb, tb))
        assert (d2.distance, d2.point_a, d2.point_b) == (d.distance, d.point_a, d.point_b)


def test_poses_place_the_meshes():
    va, ta = blob(3, 0.3, 16, 32)
    vb, tb = blob(4, 0.2, 16, 32)
    a, b = Mesh(va, ta), Mesh(vb, tb)
    pa = twinloom.pose((0.1, -0.2, 0.3), (0.3, 0.1, -0.5, 0.2))
    pb = twinloom.pose((0.7, 0.1, 0.2), (0.6, 0.2, 0.1, -0.4))
    d = twinloom.distance(a, b, pa, pb)
    d2 = twinloom.distance(a.transformed(pa), b.transformed(pb))
    assert abs(d.distance - d2.distance) < 1e-12
    assert np.allclose(d.point_a, d2.point_a, atol=1e-12) and np.allclose(d.point_b, d2.point_b, atol=1e-12)
    assert abs(np.linalg.norm(np.subtract(d.point_a, d.point_b)) - d.distance) < 1e-12
    # 3x4 poses and nested lists are accepted too.
    d3 = twinloom.distance(a, b, pa[:3].tolist(), pb[:3])
    assert d3.distance == d.distance


def test_mesh_accessors_and_primitives():
    m = Mesh.box((0.5, 0.25, 0.125))
    assert m.triangle_count == 12 and m.vertex_count == 8 and m.closed
    assert m.vertices.shape == (8, 3) and m.vertices.dtype == np.float64
    assert m.triangles.shape == (12, 3) and m.triangles.dtype == np.uint32
    assert Mesh.capsule(0.1, 0.3).closed and Mesh.sphere(1.0).closed
    open_sheet = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.array([[0, 1, 2]], dtype=np.int32))
    assert not open_sheet.closed
    assert "triangles=12" in repr(m)
    # Two unit boxes 3 m apart: faces 2 m apart.
    d = twinloom.distance(Mesh.box((0.5, 0.5, 0.5)), Mesh.box((0.5, 0.5, 0.5)), None, twinloom.pose((3, 0, 0)))
    assert d.distance == pytest.approx(2.0, abs=1e-15) and not d.intersect


ROBOTS = ["abb-irb2400", "kuka-kr6-r700", "fanuc-r2000ic-165f"]


@pytest.mark.parametrize("name", ROBOTS)
def test_forward_inverse_round_trip(name):
    r = Robot(name)
    assert r.name == name and r.limits.shape == (6, 2)
    rng = np.random.default_rng(7)
    lim = r.limits
    for _ in range(50):
        q = rng.uniform(lim[:, 0] * 0.9, lim[:, 1] * 0.9)
        q[3:] = np.clip(q[3:], -3.0, 3.0)
        pose = r.forward(q)
        sols = r.inverse_within_limits(pose)
        assert sols.shape[1] == 6 and len(sols) >= 1
        for s in sols:
            assert np.allclose(r.forward(s), pose, atol=1e-9)
            assert r.within_limits(s)
        assert r.reachable(pose)
        assert np.min(np.abs(sols - q).max(axis=1)) < 1e-6
        all8 = r.inverse(pose)
        assert all8.shape == (8, 6)
    frames = r.link_frames(np.zeros(6))
    assert frames.shape == (7, 4, 4) and np.allclose(frames[6], r.forward(np.zeros(6)), atol=1e-12)


def test_tool_frame():
    tool = twinloom.pose((0.0, 0.0, 0.2))
    r = Robot("kuka-kr6-r700")
    rt = r.with_tool(tool)
    q = [0.1, -1.2, 1.0, 0.2, 0.5, -0.3]
    assert np.allclose(rt.forward(q), r.forward(q) @ tool, atol=1e-12)
    assert np.allclose(rt.tool, tool)
    names = [c[0] for c in Robot.catalogue()]
    assert names == ROBOTS


POINTS_CSV = """id,x,y,z,qw,qx,qy,qz
W001,1.2,0.0,0.8,0,1,0,0
W002,1.0,0.3,0.6,0,1,0,0
W003,1.3,-0.2,0.5,0,0.9238795325112867,0.3826834323650898,0
W004,1.85,0.0,0.7,0,1,0,0
W005,1.75,0.2,0.6,0,1,0,0
"""


@pytest.mark.parametrize("spin", [10.0, 0.0])
def test_reach_equals_cli(cli, tmp_path, spin):
    csv = tmp_path / "points.csv"
    csv.write_text(POINTS_CSV)
    ref = run_json(
        cli, "analyze", "reach", "--robot", "abb-irb2400", "--points", csv, "--spin-tolerance-deg", spin, "--json",
        ok_codes=(0, 1),
    )
    rep = twinloom.reach(Robot("abb-irb2400"), twinloom.load_weld_points(csv), spin_tolerance_deg=spin)
    assert rep.robot == ref["robot"] and rep.all_reachable == ref["all_reachable"]
    assert not rep.all_reachable, "the sample has points out of reach"
    assert len(rep.points) == len(ref["points"])
    for p, r in zip(rep.points, ref["points"]):
        assert p.id == r["id"] and p.reachable == r["reachable"]
        if p.outside_mm is None:
            assert r["outside_mm"] is None
        else:
            assert rust_round(p.outside_mm, 10.0) == r["outside_mm"]
        assert [rust_round(math.degrees(v), 1000.0) for v in p.joints] == r["joints_deg"]
        assert rust_round(math.degrees(p.spin), 1000.0) == r["spin_deg"]
        assert list(p.nearest_position) == r["nearest_position_m"]
    bs, rbs = rep.base_shift, ref["base_shift"]
    assert bs is not None and bs.found == rbs["found"]
    if bs.found:
        assert [rust_round(v, 10.0) for v in bs.shift_mm] == rbs["shift_mm"]
        assert rust_round(bs.norm_mm, 10.0) == rbs["norm_mm"]
    assert list(bs.search_half_mm) == rbs["search_half_mm"] and bs.resolution_mm == rbs["resolution_mm"]
    # The poses built by twinloom.pose from the CSV's numbers are the CSV reader's, bit for bit.
    pts = twinloom.load_weld_points(csv)
    row = POINTS_CSV.splitlines()[3].split(",")
    assert np.array_equal(pts[2][1], twinloom.pose(map(float, row[1:4]), map(float, row[4:8])))


def test_reach_all_reachable_has_no_base_shift():
    r = Robot("abb-irb2400")
    rep = twinloom.reach(r, [("P", twinloom.pose((1.2, 0.0, 0.8), (0, 1, 0, 0)))])
    assert rep.all_reachable and rep.base_shift is None and rep.points[0].outside_mm == 0.0
    assert np.allclose(r.forward(rep.points[0].joints)[:3, 3], (1.2, 0.0, 0.8), atol=1e-9)


def test_long_work_releases_the_gil():
    """While a large mesh's hierarchy is built in another thread, this thread keeps running."""
    done = threading.Event()
    took = {}

    def work():
        t0 = time.perf_counter()
        Mesh.sphere(1.0, 1000, 1000)
        took["s"] = time.perf_counter() - t0
        done.set()

    th = threading.Thread(target=work)
    last = time.perf_counter()
    worst = 0.0
    th.start()
    while not done.is_set():
        now = time.perf_counter()
        worst = max(worst, now - last)
        last = now
        time.sleep(0.001)
    th.join()
    assert took["s"] > 0.2, f"the work was too short to tell ({took['s']:.3f} s)"
    assert worst < took["s"] / 2, f"this thread stalled {worst:.3f} s of {took['s']:.3f} s"
