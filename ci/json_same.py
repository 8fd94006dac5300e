#!/usr/bin/env python3
"""Compares two `twinloom analyze biw --json` outputs (CPU and GPU run of the same stage).

Ignores what must differ (device, timings, output paths). Everything else must match: strings, booleans
and counts exactly; lengths in millimetres (rounded to 0.1 mm in the JSON) within 0.1 mm, since the GPU's
distances agree with the CPU's within 0.01 mm and may round the other way; other numbers within 1e-5.
Exit status 0 when they match; the last line says how.
Usage: json_same.py A.json B.json
"""
import json
import sys

IGNORED = {"device", "device_reason", "elapsed_s", "collision_s", "results", "stage"}


def compare(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORED:
                continue
            if k not in a or k not in b:
                out["differ"].append(f"{path}.{k}: only in {'B' if k not in a else 'A'}")
            else:
                compare(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out["differ"].append(f"{path}: {len(a)} vs {len(b)} entries")
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        if a == b:
            return
        key = path.split(".")[-1].split("[")[0]
        tol = 0.1 + 1e-9 if key.endswith("_mm") else 1e-5
        if isinstance(a, int) and isinstance(b, int):
            tol = 0
        if abs(a - b) <= tol:
            out["close"].append(f"{path}: {a} vs {b}")
        else:
            out["differ"].append(f"{path}: {a} vs {b}")
    elif a != b:
        out["differ"].append(f"{path}: {a!r} vs {b!r}")


def main():
    a = json.load(open(sys.argv[1]))
    b = json.load(open(sys.argv[2]))
    out = {"differ": [], "close": []}
    compare(a, b, "", out)
    for line in out["close"]:
        print("within tolerance:", line)
    for line in out["differ"]:
        print("DIFFERENT:", line)
    events = sum(len(s.get("events", [])) for s in a.get("stations", []))
    if out["differ"]:
        print(f"{len(out['differ'])} values differ (first: {out['differ'][0]})")
        return 1
    if out["close"]:
        print(f"same verdicts and {events} events; {len(out['close'])} numbers differ within tolerance")
    else:
        print(f"identical apart from device and timings ({events} events)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
