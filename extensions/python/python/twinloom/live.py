"""The live client: follows a Twinloom service's live stream (``ws://HOST:PORT/v1/live``,
docs/live-protocol.md) and keeps ``pxr.Sdf.Layer`` copies of its live layers, or yields the deltas.

Messages are decoded and checked in Rust (:class:`twinloom._native.LiveDecoder`, the GIL released for large
messages); edits are applied here with Pixar's ``pxr`` (usd-core, or Kit's own), imported only when layers
are given, so the wheel does not depend on it. Each delta is applied inside one ``Sdf.ChangeBlock``;
attribute specs are looked up once per path and kept in a list indexed by the decoder's path ids, so the
steady state costs one ``spec.default = value`` per edit.

The client takes snapshots (``/v1/snapshot?shop=…``) after the first ``hello``, applies per shop only deltas
after the snapshot's ``x-twinloom-seq``, resumes a dropped connection with ``?since=SEQ&epoch=E``, takes
snapshots again on ``resync`` (or a new epoch, an unknown edit kind, a gap) and stops when the service
closes the stream. The WebSocket client is the standard library's sockets (``twinloom._ws``).
"""

from __future__ import annotations

import http.client
import os
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union
from urllib.parse import urlsplit

from . import _native
from ._native import Delta, LiveDecoder, TwinloomError
from ._ws import Closed, WebSocket, WebSocketError, split_ws_url

__all__ = [
    "Delta",
    "Applier",
    "LiveClient",
    "LiveConnectionError",
    "LiveDecoder",
    "LiveError",
    "apply_delta",
    "decode",
]

#: What ``layers`` may be: one layer per shop, or a factory called once per shop (``None``: skip the shop).
Layers = Union[Mapping[str, Any], Callable[[str], Any]]


class LiveError(TwinloomError):
    """The live stream or a snapshot could not be followed (a protocol fault, an HTTP error, an edit
    pxr refused)."""


class LiveConnectionError(LiveError):
    """The service cannot be reached, or the connection was lost and could not be resumed."""


def decode(data: Union[bytes, str]) -> Union[Delta, Dict[str, Any]]:
    """One live-stream message: a :class:`Delta` for a ``delta``, a dict for any other message. Raises
    :class:`twinloom.ParseError` (naming the delta, edit and fault) for a malformed one."""
    return LiveDecoder().decode(data)


def _pxr() -> Any:
    try:
        from pxr import Gf, Sdf  # noqa: F401  (lazily: the wheel does not depend on usd-core)
    except ImportError as e:
        raise ImportError(
            "applying live edits needs Pixar's pxr (pip install usd-core, or run inside Omniverse Kit)"
        ) from e
    import pxr

    return pxr


class Applier:
    """Applies deltas of one shop (decoded by one :class:`LiveDecoder`) to one ``Sdf.Layer``.

    Each delta goes in one ``Sdf.ChangeBlock``. The attribute spec of each path is found (or created: an
    ``over`` prim spec by ``Sdf.CreatePrimInLayer`` and an attribute spec of the delta's type) once and
    kept in a list indexed by the decoder's path ids; after that an edit is one ``spec.default = value``.
    If the layer is changed behind the applier's back (a spec gone), the delta is applied again the
    careful way. Call :meth:`reset` after replacing the layer's content."""

    __slots__ = ("layer", "specs", "Sdf", "Vec3f")

    def __init__(self, layer: Any) -> None:
        pxr = _pxr()
        self.layer = layer
        self.specs: List[Any] = []
        self.Sdf = pxr.Sdf
        self.Vec3f = pxr.Gf.Vec3f

    def reset(self) -> None:
        """Forgets the cached specs (after the layer's content was replaced)."""
        self.specs.clear()

    def apply(self, delta: Delta) -> None:
        """Applies one delta (its edits must not be of an unknown kind: see ``Delta.unsupported_op``)."""
        sid, sval, vid, vval = delta.batch()
        specs, Vec3f = self.specs, self.Vec3f
        try:
            with self.Sdf.ChangeBlock():
                for i, v in zip(sid, sval):
                    specs[i].default = v
                for j, xyz in zip(vid, vval):
                    specs[j].default = Vec3f(*xyz)
            return
        except Exception:  # a path not seen yet (or a spec gone): the careful way, for this delta only
            pass
        self._apply_slow(delta)

    def _apply_slow(self, delta: Delta) -> None:
        Sdf, layer, specs = self.Sdf, self.layer, self.specs
        with Sdf.ChangeBlock():
            for i, (path, typ, value, _) in zip(delta.ids(), delta.edits()):
                if i >= len(specs):
                    specs.extend([None] * (i + 1 - len(specs)))
                spec = specs[i]
                try:
                    if spec is None or spec.expired:
                        spec = layer.GetAttributeAtPath(path)
                        if not spec:
                            p = Sdf.Path(path)
                            prim = Sdf.CreatePrimInLayer(layer, p.GetPrimPath())
                            spec = Sdf.AttributeSpec(prim, p.name, Sdf.ValueTypeNames.Find(typ))
                        specs[i] = spec
                    spec.default = self.Vec3f(*value) if isinstance(value, tuple) else value
                except Exception as e:
                    raise LiveError(
                        f"delta {delta.seq} (shop {delta.shop}): cannot set {path} ({typ}) to {value!r}: {e}"
                    ) from e


def apply_delta(layer: Any, delta: Union[Delta, bytes, str]) -> None:
    """Applies one delta (decoded, or a message's text) to ``layer`` inside one ``Sdf.ChangeBlock``,
    creating missing prim specs (``over``) and attribute specs with the delta's types. For many deltas
    to the same layer use a :class:`LiveClient` (or keep one applier), which caches the specs."""
    if not isinstance(delta, Delta):
        delta = LiveDecoder().decode_delta(delta)
    if delta.unsupported_op is not None:
        raise LiveError(f"delta {delta.seq}: edit kind {delta.unsupported_op!r} is not protocol 1")
    Applier(layer).apply(delta)


class LiveClient:
    """Follows the live stream at ``url`` (``ws://HOST:PORT/v1/live``, or just ``HOST:PORT``).

    ``layers``: a mapping shop name → ``Sdf.Layer`` (shops not in it are not applied), or a callable
    ``factory(shop) -> Sdf.Layer | None`` called once per shop, or ``None`` to only yield the deltas
    (no snapshots, nothing applied). Each given layer first gets the shop's snapshot (its content is
    replaced), then every later delta of its shop.

    ``token``: sent as ``Authorization: Bearer <token>`` with the WebSocket handshake and the snapshot
    requests. ``timeout``: seconds for connecting and for a silent connection (after one ``ping`` with no
    answer in another ``timeout``, the connection counts as lost). A lost connection is resumed with
    ``since``/``epoch`` up to ``retries`` times in a row, ``retry_delay`` seconds apart (growing); the first
    connection is not retried: an unreachable service raises :class:`LiveConnectionError` at once.
    ``on_message``: called with every message that is not a delta (``hello``, ``resync``, ``command``, …).

    Use :meth:`follow` (until the service closes the stream, or for a while), or iterate
    :meth:`deltas`. State: ``seq`` (the last delta's), ``epoch``, ``hello``; counters ``deltas_seen``,
    ``edits`` (applied), ``snapshots`` (taken, per shop), ``reconnects``, ``resyncs`` (a ``resync`` message
    or a new epoch at a reconnect), ``gaps`` (a delta that did not follow the last one: snapshots again);
    ``closed`` once the service closed the stream. One client per thread: it is not thread-safe.
    """

    def __init__(
        self,
        url: str,
        layers: Optional[Layers] = None,
        *,
        token: Optional[str] = None,
        timeout: float = 10.0,
        retries: int = 10,
        retry_delay: float = 0.5,
        on_message: Optional[Callable[[Dict[str, Any]], None]] = None,
    ) -> None:
        if "://" not in url:
            url = f"ws://{url}/v1/live"
        try:
            host, port, path = split_ws_url(url)
        except ValueError as e:
            raise _native.InvalidInputError(str(e)) from None
        if urlsplit(url).query:
            raise _native.InvalidInputError(
                f"{url!r}: give the stream's URL without a query (the client adds since/epoch)"
            )
        if not timeout > 0:
            raise _native.InvalidInputError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.url = url
        self._host, self._port, self._path = host, port, path
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = float(timeout)
        self._retries = int(retries)
        self._retry_delay = float(retry_delay)
        self._on_message = on_message
        self._layers_arg = layers
        self._decoder = LiveDecoder()
        self._ws: Optional[WebSocket] = None
        self._appliers: Dict[str, Optional[Applier]] = {}
        self._snap_seq: Dict[str, int] = {}
        self._gap_ok = True
        self._pinged = False
        self.hello: Optional[Dict[str, Any]] = None
        self.seq: Optional[int] = None
        self.epoch: Optional[int] = None
        self.deltas_seen = 0
        self.edits = 0
        self.resyncs = 0
        self.reconnects = 0
        self.gaps = 0
        self.snapshots = 0
        self.closed = False
        self.last_resync: Optional[Dict[str, Any]] = None

    # -- public --------------------------------------------------------------------------------------
    @property
    def layers(self) -> Dict[str, Any]:
        """The layers being kept, by shop."""
        return {s: a.layer for s, a in self._appliers.items() if a is not None}

    def follow(self, seconds: Optional[float] = None, max_deltas: Optional[int] = None) -> int:
        """Follows the stream until the service closes it, ``seconds`` pass, or ``max_deltas`` deltas came;
        returns how many deltas came. The connection stays open after a time or count limit."""
        n = 0
        for _ in self.deltas(seconds=seconds, max_deltas=max_deltas):
            n += 1
        return n

    def deltas(self, seconds: Optional[float] = None, max_deltas: Optional[int] = None) -> Iterator[Delta]:
        """Yields every delta (after applying it, when layers are kept) until the service closes the
        stream, ``seconds`` pass, or ``max_deltas`` came."""
        deadline = None if seconds is None else time.monotonic() + seconds
        count = 0
        while max_deltas is None or count < max_deltas:
            if self._ws is None:
                if self.closed:
                    return
                self._connect()
            wait = self._timeout
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                wait = min(wait, left)
            ws = self._ws
            assert ws is not None
            ws.settimeout(wait)
            try:
                data = ws.recv()
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if self._pinged:
                    self._lost(f"no message for {2 * self._timeout:g} s")
                else:
                    self._pinged = True
                    self._send_quietly('{"type":"ping"}')
                continue
            except Closed as c:
                self._ws = None
                ws.abort()
                if c.code in (1000, 1001):
                    self.closed = True
                    return
                self._lost(str(c))
                continue
            except (OSError, WebSocketError) as e:
                self._lost(str(e))
                continue
            self._pinged = False
            msg = self._decoder.decode(data)
            if isinstance(msg, Delta):
                if self._on_delta(msg):
                    count += 1
                    yield msg
            else:
                self._on_other(msg)

    __iter__ = deltas

    def disconnect(self) -> None:
        """Drops the connection at once (no closing handshake, as a network cut); the next
        :meth:`follow` resumes after the last delta with ``since``/``epoch``."""
        if self._ws is not None:
            self._ws.abort()
            self._ws = None

    def close(self) -> None:
        """Closes the connection cleanly (close frame 1000)."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def snapshot(self, shop: str) -> tuple:
        """The shop's live layer from the service: ``(usdc_bytes, seq, epoch)``."""
        return self._get_snapshot(f"/v1/snapshot?shop={shop}")

    def __enter__(self) -> "LiveClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LiveClient({self.url!r}, seq={self.seq}, epoch={self.epoch}, deltas={self.deltas_seen}, "
            f"edits={self.edits}, resyncs={self.resyncs}, reconnects={self.reconnects})"
        )

    # -- connection ----------------------------------------------------------------------------------
    def _open(self) -> WebSocket:
        url = self.url
        resume = self.hello is not None and self.seq is not None and self.epoch is not None
        if resume:
            url += f"?since={self.seq}&epoch={self.epoch}"
        try:
            return WebSocket(url, self._headers, timeout=self._timeout)
        except (OSError, WebSocketError) as e:
            raise LiveConnectionError(f"cannot connect to {url}: {e}") from None

    def _connect(self) -> None:
        first = self.hello is None
        attempts = 0 if first else self._retries
        delay = self._retry_delay
        while True:
            try:
                ws = self._open()
                ws.settimeout(self._timeout)
                hello = self._decoder.decode(ws.recv())
                break
            except (LiveConnectionError, OSError, WebSocketError, Closed) as e:
                if attempts <= 0:
                    if isinstance(e, LiveConnectionError):
                        raise
                    raise LiveConnectionError(f"{self.url}: no hello from the service: {e}") from None
                attempts -= 1
                time.sleep(delay)
                delay = min(delay * 1.5, 5.0)
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            ws.abort()
            raise LiveError(f"{self.url}: the first message is not a hello: {str(hello)[:200]}")
        if hello.get("protocol") != 1:
            ws.abort()
            raise LiveError(f"{self.url}: protocol {hello.get('protocol')!r}, this client speaks protocol 1")
        self._ws = ws
        self._pinged = False
        self.closed = False
        if not first:
            self.reconnects += 1
        self.hello = hello
        if self._on_message is not None:
            self._on_message(hello)
        if first or hello.get("epoch") != self.epoch:
            # A first connection, or the service restarted without its journal: start from snapshots.
            if not first:
                self.resyncs += 1
            self.epoch = hello.get("epoch")
            self.seq = hello.get("seq")
            self._take_snapshots()

    def _lost(self, why: str) -> None:
        """The connection is gone: drop it; the next read reconnects (or raises)."""
        if self._ws is not None:
            self._ws.abort()
            self._ws = None
        if self._retries <= 0:
            raise LiveConnectionError(f"{self.url}: connection lost ({why})")

    def _send_quietly(self, text: str) -> None:
        try:
            if self._ws is not None:
                self._ws.send_text(text)
        except OSError:
            pass

    # -- messages ------------------------------------------------------------------------------------
    def _on_delta(self, d: Delta) -> bool:
        seq = d.seq
        if self.seq is not None and not self._gap_ok:
            if seq <= self.seq:
                return False  # replayed twice: applied already
            if seq != self.seq + 1:
                self.gaps += 1  # the stream broke its promise: start again from snapshots
                self._take_snapshots()
        self._gap_ok = False
        self.seq = seq
        self.deltas_seen += 1
        if d.unsupported_op is not None:
            # A later protocol's edit: do not guess, take snapshots again (docs/live-protocol.md).
            self._take_snapshots()
            return True
        a = self._applier(d.shop)
        if a is not None and seq > self._snap_seq.get(d.shop, -1):
            a.apply(d)
            self.edits += len(d)
        return True

    def _on_other(self, msg: Dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "resync":
            self.resyncs += 1
            self.last_resync = msg
            self._take_snapshots()
            if isinstance(msg.get("seq"), int):
                self.seq = msg["seq"]
            self._gap_ok = True
        if self._on_message is not None:
            self._on_message(msg)

    # -- layers and snapshots ------------------------------------------------------------------------
    def _applier(self, shop: str) -> Optional[Applier]:
        if shop in self._appliers:
            return self._appliers[shop]
        spec = self._layers_arg
        layer = None
        if spec is None:
            pass
        elif callable(spec) and not isinstance(spec, Mapping):
            layer = spec(shop)
        else:
            layer = spec.get(shop)
        a = Applier(layer) if layer is not None else None
        self._appliers[shop] = a
        return a

    def _take_snapshots(self) -> None:
        self._gap_ok = True
        if self._layers_arg is None or self.hello is None:
            return
        pxr = _pxr()
        for shop in self.hello.get("shops", []):
            name = shop.get("name")
            a = self._applier(name)
            if a is None:
                continue
            data, seq, _epoch = self._get_snapshot(shop.get("snapshot") or f"/v1/snapshot?shop={name}")
            suffix = ".usdc" if data.startswith(b"PXR-USDC") else ".usda"
            fd, tmp = tempfile.mkstemp(prefix=f"twinloom-{name}-", suffix=suffix)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                snap = pxr.Sdf.Layer.OpenAsAnonymous(tmp)
                if snap is None:
                    raise LiveError(f"snapshot of shop {name}: pxr cannot read it")
                a.layer.TransferContent(snap)
            finally:
                os.unlink(tmp)
            a.reset()
            self._snap_seq[name] = seq
            self.snapshots += 1

    def _get_snapshot(self, path: str) -> tuple:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=max(self._timeout, 30.0))
        try:
            conn.request("GET", path, headers=self._headers)
            r = conn.getresponse()
            body = r.read()
        except OSError as e:
            raise LiveConnectionError(f"http://{self._host}:{self._port}{path}: {e}") from None
        finally:
            conn.close()
        if r.status != 200:
            text = body[:200].decode("utf-8", "replace")
            raise LiveError(f"http://{self._host}:{self._port}{path}: {r.status} {text}")
        try:
            seq = int(r.headers["x-twinloom-seq"])
            epoch = int(r.headers["x-twinloom-epoch"])
        except (KeyError, TypeError, ValueError):
            raise LiveError(f"{path}: no x-twinloom-seq / x-twinloom-epoch headers") from None
        return body, seq, epoch
