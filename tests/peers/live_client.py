"""A live-stream client written from docs/live-protocol.md alone (usd-core + websockets).

Usage: python live_client.py HOST:PORT OUTDIR STOPFILE [RESUME_AFTER]

Takes a snapshot of every shop, applies deltas in sequence order, checks that sequence numbers arrive
with no gap and no duplicate, and (with RESUME_AFTER) disconnects after that many deltas and resumes with
`since=<last seq>&epoch=<epoch>`. Once STOPFILE exists and nothing arrived for 1.5 s it exports each shop's
layer to OUTDIR/<shop>.client.usda and prints a JSON summary on stdout.
"""

import json
import os
import sys
import time
import urllib.request

from pxr import Sdf
from websockets.sync.client import connect


def fetch_snapshot(base, shop, outdir):
    with urllib.request.urlopen(f"http://{base}{shop['snapshot']}") as r:
        seq = int(r.headers["x-twinloom-seq"])
        data = r.read()
    path = os.path.join(outdir, f"{shop['name']}.snapshot.usdc")
    with open(path, "wb") as f:
        f.write(data)
    return Sdf.Layer.OpenAsAnonymous(path), seq


def apply(layer, edits):
    with Sdf.ChangeBlock():
        for e in edits:
            if e["op"] != "set":
                raise SystemExit(f"unexpected op {e['op']}")
            p = Sdf.Path(e["path"])
            spec = layer.GetAttributeAtPath(p)
            if not spec:
                prim = Sdf.CreatePrimInLayer(layer, p.GetPrimPath())
                spec = Sdf.AttributeSpec(prim, p.name, Sdf.ValueTypeNames.Find(e["type"]))
            spec.default = e["value"]


def main():
    base, outdir, stopfile = sys.argv[1], sys.argv[2], sys.argv[3]
    resume_after = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    ws = connect(f"ws://{base}/v1/live")
    hello = json.loads(ws.recv())
    assert hello["type"] == "hello" and hello["protocol"] == 1, hello
    layers, snap_seq = {}, {}
    for shop in hello["shops"]:
        layers[shop["name"]], snap_seq[shop["name"]] = fetch_snapshot(base, shop, outdir)
    # Garbage from a client is answered with an error and the stream goes on.
    ws.send("this is not json")
    ws.send(b"\x00\x01")
    ws.send('{"type":"ping"}')
    last = hello["seq"]
    deltas = resumes = applied = errors = pongs = 0
    quiet_since = time.monotonic()
    while True:
        try:
            msg = json.loads(ws.recv(timeout=0.2))
        except TimeoutError:
            if os.path.exists(stopfile) and time.monotonic() - quiet_since > 1.5:
                break
            continue
        quiet_since = time.monotonic()
        if msg["type"] == "resync":
            raise SystemExit(f"unexpected resync: {msg}")
        errors += msg["type"] == "error"
        pongs += msg["type"] == "pong"
        if msg["type"] != "delta":
            continue
        if msg["seq"] != last + 1:
            raise SystemExit(f"sequence gap or duplicate: got {msg['seq']} after {last}")
        last = msg["seq"]
        deltas += 1
        if msg["seq"] > snap_seq[msg["shop"]]:
            apply(layers[msg["shop"]], msg["edits"])
            applied += 1
        if resume_after and deltas == resume_after:
            ws.close()
            time.sleep(0.5)  # deltas keep flowing meanwhile; the ring holds them
            ws = connect(f"ws://{base}/v1/live?since={last}&epoch={hello['epoch']}")
            again = json.loads(ws.recv())
            assert again["type"] == "hello" and again["epoch"] == hello["epoch"], again
            resumes += 1
    for name, layer in layers.items():
        layer.Export(os.path.join(outdir, f"{name}.client.usda"))
    print(json.dumps({"deltas": deltas, "applied": applied, "resumes": resumes, "errors": errors, "pongs": pongs, "last_seq": last, "shops": sorted(layers)}))


if __name__ == "__main__":
    main()
