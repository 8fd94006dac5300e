"""A minimal WebSocket client (RFC 6455) over the standard library's sockets, for the live client.

Only what a Twinloom live stream needs: ``ws://`` URLs, the opening handshake (with extra headers, e.g.
``Authorization``), text and binary messages (fragmented or not), answering pings, client ``ping`` frames
and the closing handshake. Server frames are unmasked; client frames are masked as the RFC requires.
Failures raise :class:`WebSocketError` (protocol faults) or :class:`OSError` (the network).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
from typing import Dict, Optional, Tuple, Union
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    """The peer broke the WebSocket protocol, or the handshake was refused."""


class Closed(Exception):
    """The peer sent a close frame: ``code`` (1005 when it gave none) and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed by the server: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


def split_ws_url(url: str) -> Tuple[str, int, str]:
    """``ws://host:port/path?query`` as ``(host, port, path_and_query)``; ``ValueError`` otherwise."""
    u = urlsplit(url)
    if u.scheme != "ws":
        raise ValueError(f"not a ws:// URL: {url!r} (the live stream is ws://HOST:PORT/v1/live)")
    if not u.hostname:
        raise ValueError(f"no host in {url!r}")
    try:
        port = u.port or 80
    except ValueError as e:
        raise ValueError(f"bad port in {url!r}: {e}") from None
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return u.hostname, port, path


class WebSocket:
    """One client connection. ``recv()`` returns the next data message (``str`` for text, ``bytes`` for
    binary), answering pings on the way, and raises :class:`Closed` when the server closes."""

    def __init__(self, url: str, headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = 10.0):
        host, port, path = split_ws_url(url)
        self.url = url
        self._sock = socket.create_connection((host, port), timeout=timeout)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buf = bytearray()
            self._parts: list = []
            self._first: Optional[int] = None
            self._handshake(host, port, path, headers or {})
        except BaseException:
            self._sock.close()
            raise
        self._closed = False

    # -- reading -------------------------------------------------------------------------------------
    def _fill(self, n: int) -> None:
        while len(self._buf) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionResetError("the server ended the connection without a close frame")
            self._buf += chunk

    def _handshake(self, host: str, port: int, path: str, headers: Dict[str, str]) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > 65536:
                raise WebSocketError("handshake answer too long")
            chunk = self._sock.recv(4096)
            if not chunk:
                raise WebSocketError(f"{self.url}: the server closed the connection during the handshake")
            self._buf += chunk
        end = self._buf.index(b"\r\n\r\n")
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        status = head[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WebSocketError(f"{self.url}: the server refused the WebSocket upgrade: {head[0]!r}")
        fields = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        if fields.get("sec-websocket-accept") != accept:
            raise WebSocketError(f"{self.url}: bad Sec-WebSocket-Accept in the handshake answer")

    def _frame(self) -> Tuple[bool, int, bytes]:
        # Peeks until the whole frame is buffered, then consumes it: a read timeout leaves the buffer
        # intact, so the next call goes on where this one stopped.
        self._fill(2)
        b0, b1 = self._buf[0], self._buf[1]
        fin, opcode, masked, n = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        if b0 & 0x70:
            raise WebSocketError("frame with reserved bits set (no extension was negotiated)")
        head = 2
        if n == 126:
            self._fill(4)
            (n,) = struct.unpack_from("!H", self._buf, 2)
            head = 4
        elif n == 127:
            self._fill(10)
            (n,) = struct.unpack_from("!Q", self._buf, 2)
            head = 10
        if masked:
            head += 4
        self._fill(head + n)
        mask = bytes(self._buf[head - 4 : head]) if masked else None
        payload = bytes(self._buf[head : head + n])
        del self._buf[: head + n]
        if mask:
            payload = _unmask(payload, mask)
        return fin, opcode, payload

    def recv(self) -> Union[str, bytes]:
        """The next text (``str``) or binary (``bytes``) message. A read timeout (``TimeoutError``)
        loses nothing: call again."""
        while True:
            fin, opcode, payload = self._frame()
            if opcode == OP_PING:
                self._send(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                if not self._closed:
                    try:
                        self._send(OP_CLOSE, payload[:2])
                    except OSError:
                        pass
                    self._closed = True
                raise Closed(code, reason)
            if opcode in (OP_TEXT, OP_BINARY):
                if self._first is not None:
                    raise WebSocketError("new message inside a fragmented one")
                self._first = opcode
            elif opcode == OP_CONT:
                if self._first is None:
                    raise WebSocketError("continuation frame without a message")
            else:
                raise WebSocketError(f"unknown opcode {opcode}")
            self._parts.append(payload)
            if fin:
                parts, first = self._parts, self._first
                self._parts, self._first = [], None
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                return data.decode("utf-8") if first == OP_TEXT else data

    # -- writing -------------------------------------------------------------------------------------
    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        self._sock.sendall(head + mask + _unmask(payload, mask))

    def send_text(self, text: str) -> None:
        """Sends one text message."""
        self._send(OP_TEXT, text.encode("utf-8"))

    def settimeout(self, timeout: Optional[float]) -> None:
        """The socket timeout of later reads (``None``: block)."""
        self._sock.settimeout(timeout)

    def close(self, code: int = 1000) -> None:
        """Sends a close frame (best effort) and closes the socket."""
        if not self._closed:
            self._closed = True
            try:
                self._send(OP_CLOSE, struct.pack("!H", code))
            except OSError:
                pass
        self.abort()

    def abort(self) -> None:
        """Closes the socket at once, without the closing handshake (as a network cut would)."""
        try:
            self._sock.close()
        except OSError:
            pass


def _unmask(data: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask, whole-buffer at a time through ``int`` (fast for large payloads)."""
    n = len(data)
    if n == 0:
        return b""
    reps = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(reps, "little")).to_bytes(n, "little")
