"""Benchmark ``py_distance_calls_per_s``: exact mesh–mesh distance queries through the wheel
(``twinloom.distance(a, b, None, pose)``, one Python call per query) against the same queries run in Rust
(``twinloom._native._bench_rust_distance``: a loop over ``twinloom_biw::distance::mesh_distance`` in one
thread, without Python), on two ~10,000-triangle closed blobs and 256 poses of B around A (clearances from
about -1 cm to 20 cm, as the Rust crate's ``dist_qps_10k_1t`` bench). Both run alternately three times for
``--seconds`` each; the best of each is kept (the machine is shared). ``binding_us_per_call`` is the
binding's own cost per call (the same comparison on two 12-triangle boxes).

Prints one JSON line::

    {"name":"py_distance_calls_per_s","value":...,"unit":"calls/s","rust_calls_per_s":...,"overhead_pct":...}

Run: ``python extensions/python/bench/py_distance.py [--seconds S]`` in a venv with the wheel installed
(ci/python-wheel leaves one in ``target/py-test-3.12``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import twinloom
from twinloom import Mesh, _native


def blob(rng: np.random.Generator, radius: float) -> Mesh:
    """A closed bumpy sphere of 10,000 triangles (UV sphere, 26 rings x 200 segments, vertices pushed radially)."""
    s = Mesh.sphere(radius, 26, 200)
    v = s.vertices
    k = rng.uniform(2.0, 6.0, size=3)
    bump = 1.0 + 0.04 * np.sin(k[0] * v[:, 0] / radius) * np.cos(k[1] * v[:, 1] / radius + k[2] * v[:, 2] / radius)
    return Mesh(v * bump[:, None], s.triangles)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return twinloom.pose((0.0, 0.0, 0.0), q / np.linalg.norm(q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum time per measurement")
    args = ap.parse_args()
    rng = np.random.default_rng(10_000)
    a, b = blob(rng, 0.3), blob(rng, 0.25)
    poses = []
    for _ in range(256):
        p = random_rotation(rng)
        d = rng.normal(size=3)
        p[:3, 3] = d / np.linalg.norm(d) * rng.uniform(0.56, 0.75)
        poses.append(np.ascontiguousarray(p))
    intersecting = sum(twinloom.distance(a, b, None, p).intersect for p in poses)

    def through_python() -> float:
        dist = twinloom.distance
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            for p in poses:
                dist(a, b, None, p)
            n += len(poses)
        return n / (time.perf_counter() - start)

    def in_rust() -> float:
        return _native._bench_rust_distance(a, b, poses, args.seconds)

    through_python()  # warm-up (caches, page faults)
    py_best, rust_best = 0.0, 0.0
    for _ in range(3):
        rust_best = max(rust_best, in_rust())
        py_best = max(py_best, through_python())
    overhead = (rust_best / py_best - 1.0) * 100.0
    # The binding's own cost per call: the same comparison on two boxes (12 triangles each), where the
    # query itself takes well under a microsecond.
    box_a, box_b = Mesh.box((0.5, 0.5, 0.5)), Mesh.box((0.5, 0.5, 0.5))
    box_poses = [twinloom.pose((3.0, 0.1, 0.2))] * 256
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < min(args.seconds, 1.0):
        for p in box_poses:
            twinloom.distance(box_a, box_b, None, p)
        n += len(box_poses)
    py_us = (time.perf_counter() - t0) / n * 1e6
    rust_us = 1e6 / _native._bench_rust_distance(box_a, box_b, box_poses, min(args.seconds, 1.0))
    print(
        json.dumps(
            {
                "name": "py_distance_calls_per_s",
                "value": round(py_best, 1),
                "unit": "calls/s",
                "rust_calls_per_s": round(rust_best, 1),
                "overhead_pct": round(overhead, 2),
                "triangles": [a.triangle_count, b.triangle_count],
                "binding_us_per_call": round(py_us - rust_us, 3),
                "queries": len(poses),
                "intersecting": int(intersecting),
                "threads": 1,
                "load_avg_1m": os.getloadavg()[0],
            },
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main()
