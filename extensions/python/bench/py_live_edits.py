"""Benchmark ``py_live_edits_per_s``: live-stream edits applied to a ``pxr.Sdf.Layer`` through the wheel's
live client path, from the message bytes to the layer: ``twinloom.live.LiveDecoder.decode_delta`` (Rust: JSON,
checks, path ids, grouping) and ``twinloom.live.Applier.apply`` (pxr: one ``Sdf.ChangeBlock`` per delta,
one cached ``spec.default = value`` per edit), exactly what ``LiveClient`` does per delta.

The stream is a shop like the demo's: 1,000 attributes under 100 prims (70 % double, 10 % float, 8 % bool,
5 % int, 3 % token, 2 % string, 2 % float3), and ticks of 100 edits each (a random tenth of the
attributes changes per tick), as JSON text frames the connector would send (``sourceTimeMs`` included).
The first pass creates the specs (not timed); then the stream is applied again and again for
``--seconds``, best of three. For comparison, ``reference_edits_per_s`` is the documented pure-Python
client (docs/live-protocol.md: ``json.loads``, ``GetAttributeAtPath`` and a conversion per edit) on the
same frames, and ``decode_edits_per_s`` the Rust decoding alone.

Prints one JSON line::

    {"name":"py_live_edits_per_s","value":...,"unit":"edits/s","reference_edits_per_s":...,...}

Run: ``python extensions/python/bench/py_live_edits.py [--seconds S]`` in a venv with the wheel and
usd-core (ci/python-wheel leaves one in ``target/py-test-3.12``).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from pxr import Gf, Sdf

from twinloom.live import Applier, LiveDecoder

ATTRS = 1000
EDITS_PER_TICK = 100
TICKS = 400


def stream(seed: int = 1) -> list:
    rng = random.Random(seed)
    mix = {"double": 70, "float": 10, "bool": 8, "int": 5, "token": 3, "string": 2, "float3": 2}
    kinds = [k for k, n in mix.items() for _ in range(n)]
    attrs = [(f"/Plant/Signals/Field/Z{i // 10:04d}.S{i:07d}", kinds[i % 100]) for i in range(ATTRS)]

    def value(kind: str):
        if kind == "double":
            return round(rng.uniform(-500, 500), 3)
        if kind == "float":
            return round(rng.uniform(-180, 180), 3)
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "int":
            return rng.randrange(0, 100000)
        if kind in ("token", "string"):
            return rng.choice(["idle", "welding", "blocked", "starved", "fault"])
        return [round(rng.uniform(-5, 5), 3) for _ in range(3)]

    frames = []
    t = 1764099612345.1
    # Tick 0 sets every attribute (creates the specs); later ticks a random tenth.
    for seq in range(1, TICKS + 1):
        chosen = attrs if seq == 1 else rng.sample(attrs, EDITS_PER_TICK)
        edits = [{"op": "set", "path": p, "type": k, "value": value(k), "sourceTimeMs": t} for p, k in chosen]
        frames.append(json.dumps({"type": "delta", "seq": seq, "shop": "field", "layer": "live/field.usdc",
                                  "timeMs": t, "edits": edits}, separators=(",", ":")).encode())
        t += 100.0
    return frames


def run_client(frames: list, seconds: float) -> float:
    layer = Sdf.Layer.CreateAnonymous("field.usdc")
    dec = LiveDecoder()
    app = Applier(layer)
    app.apply(dec.decode_delta(frames[0]))
    body = frames[1:]
    edits, t0 = 0, time.perf_counter()
    while True:
        for f in body:
            d = dec.decode_delta(f)
            app.apply(d)
            edits += len(d)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return edits / dt


def run_decode(frames: list, seconds: float) -> float:
    dec = LiveDecoder()
    edits, t0 = 0, time.perf_counter()
    while True:
        for f in frames[1:]:
            edits += len(dec.decode_delta(f))
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return edits / dt


CONVERT: dict = {"bool": bool, "int": int, "int64": int, "float": float, "double": float,
           "float3": lambda v: Gf.Vec3f(*v), "string": str, "token": str}


def reference_apply(layer, edits) -> None:
    with Sdf.ChangeBlock():
        for e in edits:
            path = Sdf.Path(e["path"])
            spec = layer.GetAttributeAtPath(path)
            if not spec:
                prim = Sdf.CreatePrimInLayer(layer, path.GetPrimPath())
                spec = Sdf.AttributeSpec(prim, path.name, Sdf.ValueTypeNames.Find(e["type"]))
            spec.default = CONVERT[e["type"]](e["value"])


def run_reference(frames: list, seconds: float) -> float:
    layer = Sdf.Layer.CreateAnonymous("field.usdc")
    reference_apply(layer, json.loads(frames[0])["edits"])
    edits, t0 = 0, time.perf_counter()
    while True:
        for f in frames[1:]:
            msg = json.loads(f)
            reference_apply(layer, msg["edits"])
            edits += len(msg["edits"])
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return edits / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds per timed run (best of three)")
    args = ap.parse_args()
    frames = stream()
    # Same result both ways (a sanity check, not timed).
    a, b = Sdf.Layer.CreateAnonymous(), Sdf.Layer.CreateAnonymous()
    dec, app = LiveDecoder(), Applier(a)
    for f in frames:
        app.apply(dec.decode_delta(f))
        reference_apply(b, json.loads(f)["edits"])
    assert a.ExportToString() == b.ExportToString(), "the client and the reference disagree"

    best = {"client": 0.0, "reference": 0.0, "decode": 0.0}
    for _ in range(3):
        best["client"] = max(best["client"], run_client(frames, args.seconds))
        best["reference"] = max(best["reference"], run_reference(frames, args.seconds))
        best["decode"] = max(best["decode"], run_decode(frames, args.seconds / 2))
    print(json.dumps({
        "name": "py_live_edits_per_s",
        "value": round(best["client"]),
        "unit": "edits/s",
        "reference_edits_per_s": round(best["reference"]),
        "decode_edits_per_s": round(best["decode"]),
        "speedup_vs_reference": round(best["client"] / best["reference"], 2),
        "edits_per_delta": EDITS_PER_TICK,
        "attributes": ATTRS,
    }))


if __name__ == "__main__":
    main()
