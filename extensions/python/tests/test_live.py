"""The live client (``twinloom.live``) against the real service: ``twinloom demo`` on a free loopback port is
followed into fresh in-memory ``Sdf.Layer``s, the connection is dropped and resumed (no resync, no gap),
the demo is stopped with SIGINT, and every attribute of the client's layers must equal the demo's saved
``live/<shop>.usdc``. Also: the decoder on good and malformed deltas, applying one delta, and bad URLs.

Needs pxr (usd-core; ci/python-wheel installs it in the test venvs) and, for the end-to-end test, the CLI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import twinloom
from twinloom import live

Sdf = pytest.importorskip("pxr.Sdf")
Gf = pytest.importorskip("pxr.Gf")

DELTA = (
    '{"type":"delta","seq":1842,"shop":"biw","layer":"live/biw.usdc","timeMs":1764099612345.1,"edits":['
    '{"op":"set","path":"/Plant/BIW/Station01/R01.J1","type":"double","value":12.5,"sourceTimeMs":1764099612301.0},'
    '{"op":"set","path":"/Plant/BIW/Station01.State","type":"string","value":"welding"},'
    '{"op":"set","path":"/Plant/BIW/Station01.Count","type":"int","value":42},'
    '{"op":"set","path":"/Plant/BIW/Station01.Big","type":"int64","value":9007199254740993},'
    '{"op":"set","path":"/Plant/BIW/Station01.On","type":"bool","value":true},'
    '{"op":"set","path":"/Plant/BIW/Station01.Mode","type":"token","value":"auto"},'
    '{"op":"set","path":"/Plant/BIW/Station01.Speed","type":"float","value":1},'
    '{"op":"set","path":"/Plant/Paint/Oven/Zone01.Temperature","type":"float3","value":[1.0,2.0,3.5]}]}'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the decoder and the applier --------------------------------------------------------------------


def test_decode_delta():
    d = live.decode(DELTA)
    assert isinstance(d, live.Delta)
    assert (d.seq, d.shop, d.layer, d.time_ms, len(d), d.unsupported_op) == (
        1842, "biw", "live/biw.usdc", 1764099612345.1, 8, None)
    e = d.edits()
    assert e[0] == ("/Plant/BIW/Station01/R01.J1", "double", 12.5, 1764099612301.0)
    assert e[3][2] == 9007199254740993 and e[4][2] is True and e[6][2] == 1.0 and isinstance(e[6][2], float)
    assert e[7] == ("/Plant/Paint/Oven/Zone01.Temperature", "float3", (1.0, 2.0, 3.5), None)
    sid, sval, vid, vval = d.batch()
    assert sid == [0, 1, 2, 3, 4, 5, 6] and vid == [7] and vval == [(1.0, 2.0, 3.5)]
    assert sval[1] == "welding"
    # bytes work too; other messages come back as dicts.
    assert live.decode(DELTA.encode()).seq == 1842
    assert live.decode(b'{"type":"resync","reason":"lagged","seq":9}') == {"type": "resync", "reason": "lagged", "seq": 9}
    # A message of another type with fields shaped unlike a delta's is still read.
    assert live.decode('{"type":"future","seq":"x","edits":7}') == {"type": "future", "seq": "x", "edits": 7}


def test_decoder_keeps_path_ids_per_shop():
    dec = live.LiveDecoder()
    a = dec.decode(DELTA)
    b = dec.decode(DELTA.replace('"seq":1842', '"seq":1843'))
    assert a.ids() == b.ids() == list(range(8))
    c = dec.decode(DELTA.replace('"shop":"biw"', '"shop":"paint"'))
    assert c.ids() == list(range(8))
    assert dec.path_count("biw") == 8 and dec.path_count("paint") == 8 and dec.path_count("x") == 0


def test_decode_delta_is_typed():
    dec = live.LiveDecoder()
    assert dec.decode_delta(DELTA).seq == 1842
    with pytest.raises(twinloom.ParseError, match="not a delta: a pong message"):
        dec.decode_delta('{"type":"pong"}')


def test_unknown_op_is_flagged_not_guessed():
    d = live.decode('{"type":"delta","seq":5,"shop":"biw","layer":"l","edits":['
                    '{"op":"set","path":"/A.b","type":"double","value":1.0},{"op":"remove","path":"/A.b"}]}')
    assert d.unsupported_op == "remove" and len(d) == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A.b","type":"double","value":"x"}]}',
         "delta 7 (shop biw), edit 0: 'value' must be a number for type double, got a string"),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A.b","type":"float3","value":[1,2]}]}',
         "edit 0: 'value' must be an array of 3 numbers for type float3, got 2 numbers"),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A.b","type":"int","value":1.5}]}',
         "'value' must be an integer for type int, got 1.5"),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A.b","type":"half","value":1}]}',
         "unknown 'type' \"half\""),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A","type":"bool","value":true}]}',
         "'path' \"/A\" is not an attribute path"),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A.b","type":"bool"}]}',
         "edit 0: no 'value'"),
        ('{"type":"delta","shop":"biw","layer":"l","edits":[]}', "delta without 'seq'"),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set"', "EOF while parsing"),
        ("[1, 2]", "not a live-stream message: no 'type'"),
        ('{"type":"delta","seq":"7","shop":"biw","layer":"l","edits":[]}', "not a valid delta: invalid type: string"),
        ('{"type":"delta","seq":7,"shop":"biw","layer":"l","edits":[{"op":"set","path":"/A.b","type":"int",'
         '"value":{"a":1}}]}', "'value' must be an integer for type int, got an object"),
    ],
)
def test_malformed_delta_raises_with_the_message(text, message):
    with pytest.raises(twinloom.ParseError, match=None) as e:
        live.decode(text)
    assert message in str(e.value)


def test_decode_rejects_non_text():
    with pytest.raises(twinloom.InvalidInputError, match="bytes or str"):
        live.decode(12)  # type: ignore[arg-type]


def test_apply_delta_creates_overs_and_typed_attributes():
    layer = Sdf.Layer.CreateAnonymous()
    live.apply_delta(layer, DELTA)
    prim = layer.GetPrimAtPath("/Plant/BIW/Station01")
    assert prim.specifier == Sdf.SpecifierOver
    want = {
        "/Plant/BIW/Station01/R01.J1": ("double", 12.5),
        "/Plant/BIW/Station01.State": ("string", "welding"),
        "/Plant/BIW/Station01.Count": ("int", 42),
        "/Plant/BIW/Station01.Big": ("int64", 9007199254740993),
        "/Plant/BIW/Station01.On": ("bool", True),
        "/Plant/BIW/Station01.Mode": ("token", "auto"),
        "/Plant/BIW/Station01.Speed": ("float", 1.0),
        "/Plant/Paint/Oven/Zone01.Temperature": ("float3", Gf.Vec3f(1.0, 2.0, 3.5)),
    }
    for path, (typ, value) in want.items():
        spec = layer.GetAttributeAtPath(path)
        assert spec, path
        assert str(spec.typeName) == typ, path
        assert spec.default == value, path
    # An existing spec is reused; a second delta changes only the value.
    live.apply_delta(layer, DELTA.replace("12.5", "13.25"))
    assert layer.GetAttributeAtPath("/Plant/BIW/Station01/R01.J1").default == 13.25


def test_bad_urls_raise_clear_errors():
    with pytest.raises(twinloom.InvalidInputError, match="not a ws:// URL"):
        live.LiveClient("http://127.0.0.1:1/v1/live")
    port = free_port()  # nothing listens there
    c = live.LiveClient(f"ws://127.0.0.1:{port}/v1/live", timeout=2.0)
    with pytest.raises(live.LiveConnectionError, match=f"cannot connect to ws://127.0.0.1:{port}/v1/live"):
        c.follow(seconds=1)
    assert issubclass(live.LiveConnectionError, twinloom.TwinloomError)


def test_not_a_live_stream_raises():
    # An HTTP server that is not Twinloom: the upgrade is refused.
    import http.server
    import threading

    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        c = live.LiveClient(f"127.0.0.1:{srv.server_address[1]}", timeout=2.0)
        with pytest.raises(live.LiveConnectionError, match="refused the WebSocket upgrade"):
            c.follow(seconds=1)
    finally:
        srv.shutdown()
        srv.server_close()


# -- against the real service -----------------------------------------------------------------------


def wait_ready(port: int, proc: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"twinloom demo exited early with {proc.returncode}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("twinloom demo did not come up")


def attributes(layer) -> dict:
    out = {}
    layer.Traverse("/", lambda p: out.__setitem__(str(p), layer.GetAttributeAtPath(p)) if p.IsPropertyPath() else None)
    return {p: (str(a.typeName), a.default) for p, a in out.items() if a}


def test_follow_demo_resume_and_match_saved_layers(cli: Path, tmp_path: Path):
    port = free_port()
    out = tmp_path / "demo"
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen(
        [str(cli), "demo", "--listen", f"127.0.0.1:{port}", "--out", str(out)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(port, proc)
        layers: dict = {}

        def factory(shop: str):
            layers[shop] = Sdf.Layer.CreateAnonymous(f"{shop}.usdc")
            return layers[shop]

        client = live.LiveClient(f"ws://127.0.0.1:{port}/v1/live", factory, timeout=10.0)
        assert client.follow(seconds=4) > 0
        shops = [s["name"] for s in client.hello["shops"]]
        assert {"biw", "paint", "assembly", "field", "site", "edge"} <= set(shops)
        assert client.snapshots == len(shops) and client.edits > 0
        before = client.seq

        # A network cut: drop the connection, let the demo run on, resume after the last delta.
        client.disconnect()
        time.sleep(2.0)
        resumed = list(client.deltas(max_deltas=5))
        assert [d.seq for d in resumed] == list(range(before + 1, before + 6)), "the resume has a gap"
        assert client.reconnects == 1 and client.resyncs == 0 and client.gaps == 0
        assert client.snapshots == len(shops), "a resume must not take snapshots again"
        client.follow(seconds=2)

        # Stop the demo cleanly; the client gets every delta, then the close frame.
        proc.send_signal(signal.SIGINT)
        client.follow()
        assert client.closed
        assert proc.wait(timeout=60) == 0, (tmp_path / "demo.log").read_text(errors="replace")[-2000:]
        assert client.resyncs == 0 and client.gaps == 0

        assert compare_with_saved(out, layers) > 1000
        for shop in ("biw", "paint", "assembly", "field", "site", "edge"):
            assert layers[shop].GetPrimAtPath("/Plant").specifier == Sdf.SpecifierOver
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def compare_with_saved(out: Path, layers: dict) -> int:
    checked = 0
    for shop in ("biw", "paint", "assembly", "field", "site", "edge"):
        saved = Sdf.Layer.FindOrOpen(str(out / "live" / f"{shop}.usdc"))
        assert saved, shop
        want, got = attributes(saved), attributes(layers[shop])
        assert want, f"{shop}: the saved layer has no attributes"
        assert sorted(got) == sorted(want), f"{shop}: attribute sets differ"
        for p, (typ, value) in want.items():
            assert got[p] == (typ, value), f"{shop}: {p}: saved {typ} {value!r}, client {got[p]!r}"
            checked += 1
    return checked


def test_resync_takes_snapshots_again(cli: Path, tmp_path: Path):
    """Resuming with an epoch the service does not have: it answers ``resync`` (reason ``epoch``); the
    client takes snapshots again and still ends with exactly the saved layers."""
    port = free_port()
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [str(cli), "demo", "--listen", f"127.0.0.1:{port}", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, proc)
        shops = ("biw", "paint", "assembly", "field", "site", "edge")
        layers = {s: Sdf.Layer.CreateAnonymous(f"{s}.usdc") for s in shops}
        seen = []
        client = live.LiveClient(f"127.0.0.1:{port}", layers, on_message=seen.append)
        client.follow(seconds=2)
        snaps = client.snapshots
        assert snaps == 6  # only the shops given (the demo has more)
        client.disconnect()
        client.epoch = 1  # as if the service had restarted since
        client.follow(seconds=2)
        assert client.resyncs >= 1 and client.snapshots >= 2 * snaps and client.gaps == 0
        resyncs = [m for m in seen if m.get("type") == "resync"]
        assert resyncs and resyncs[0]["reason"] == "epoch", seen[-3:]
        proc.send_signal(signal.SIGINT)
        client.follow()
        assert client.closed and proc.wait(timeout=60) == 0
        assert compare_with_saved(out, layers) > 1000
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_yield_only_and_token(cli: Path, tmp_path: Path):
    """Without layers the client only yields deltas (no snapshots); a bearer token goes with the
    requests (the demo does not ask for one)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(cli), "demo", "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "demo"), "--seconds", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, proc)
        seen = []
        with live.LiveClient(f"127.0.0.1:{port}", token="secret", on_message=seen.append) as c:
            ds = list(c.deltas(max_deltas=20))
            assert len(ds) == 20 and c.snapshots == 0 and c.layers == {}
            assert [d.seq for d in ds] == list(range(ds[0].seq, ds[0].seq + 20))
            assert seen and seen[0]["type"] == "hello"
            data, seq, epoch = c.snapshot("biw")
            assert data.startswith(b"PXR-USDC") and seq > 0 and epoch == c.epoch
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if os.name != "posix":  # pragma: no cover
    pytestmark = pytest.mark.skip("the demo is stopped with SIGINT")
