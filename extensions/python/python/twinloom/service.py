"""A client of a running Twinloom service (``twinloom run`` or ``twinloom demo``) over its HTTP API, on the
standard library only: write-back commands (docs/write-back.md: submit, get, approve, the autonomy kill
switch), history queries (``GET /v1/history``, docs/history.md) and live-layer snapshots
(``GET /v1/snapshot``, docs/live-protocol.md).

Every request carries ``Authorization: Bearer <token>`` when a token is given. A refusal by the service
(``4xx``/``5xx``) raises :class:`ServiceError` with the service's own message (its ``{"error": …}``) and the
HTTP status; no service at the address raises :class:`ServiceConnectionError`.

>>> svc = Service("http://127.0.0.1:8765", token="alice-token")          # doctest: +SKIP
>>> cmd = svc.submit("/Plant/Paint/Oven/Zone01.twinloom:setpoint", 185.0, reason="new clear coat")  # doctest: +SKIP
>>> cmd.state                                                              # doctest: +SKIP
'awaiting_approval'
"""

from __future__ import annotations

import datetime as _dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from ._native import InvalidInputError, TwinloomError

__all__ = ["Command", "History", "Service", "ServiceConnectionError", "ServiceError", "Snapshot"]

Time = Union[float, int, str, _dt.datetime]


class ServiceError(TwinloomError):
    """The service refused a request: ``status`` is the HTTP status, ``message`` the service's reason."""

    def __init__(self, message: str, status: Optional[int] = None, url: str = "") -> None:
        super().__init__(f"{status} {message}" if status is not None else message)
        self.message = message
        self.status = status
        self.url = url


class ServiceConnectionError(ServiceError):
    """No answer from the service (nothing listening, a timeout, a connection dropped)."""


@dataclass(frozen=True)
class Command:
    """A write-back command as the service reports it (docs/write-back.md, "A command")."""

    id: str
    target: str
    value: Any
    state: str
    reason: str
    dry_run: bool
    requested_by: Optional[str]
    approved_by: Optional[str]
    #: The policy rule that refused it (state ``refused``).
    rule: Optional[str]
    read_back: Optional[Any]
    #: ``[{"state", "at_ms", "detail"?}, …]``, oldest first.
    history: List[Dict[str, Any]]
    #: The whole answer, every key the service sent.
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Command":
        return cls(
            id=d.get("id", ""), target=d.get("target", ""), value=d.get("value"), state=d.get("state", ""),
            reason=d.get("reason", ""), dry_run=bool(d.get("dry_run", False)),
            requested_by=d.get("requested_by"), approved_by=d.get("approved_by"), rule=d.get("rule"),
            read_back=d.get("read_back"), history=list(d.get("history", [])), raw=d,
        )


@dataclass(frozen=True)
class History:
    """An attribute's samples between two times (``GET /v1/history``): ``prior`` is the sample in effect at
    ``from`` (or ``None``), ``samples`` ``(seconds since the epoch, value)`` pairs in time order."""

    attr: str
    shop: str
    type: str
    prior: Optional[Tuple[float, Any]]
    samples: List[Tuple[float, Any]]


@dataclass(frozen=True)
class Snapshot:
    """A shop's live layer (``GET /v1/snapshot``): ``data`` the ``.usdc`` bytes, or ``edits`` (the ``set``
    edits holding the layer's values) for ``format="json"``; ``seq`` and ``epoch`` as the live stream."""

    shop: str
    seq: int
    epoch: int
    data: Optional[bytes] = field(default=None, repr=False)
    edits: Optional[List[Dict[str, Any]]] = field(default=None, repr=False)
    layer: Optional[str] = None


def _time(t: Time, what: str) -> str:
    if isinstance(t, bool):
        raise InvalidInputError(f"{what}: expected seconds since the epoch, an RFC 3339 text or a datetime")
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            raise InvalidInputError(f"{what}: a naive datetime is ambiguous; give it a tzinfo")
        return repr(t.timestamp())
    if isinstance(t, (int, float)):
        return repr(float(t)) if isinstance(t, float) else str(t)
    if isinstance(t, str):
        return t
    raise InvalidInputError(f"{what}: expected seconds since the epoch, an RFC 3339 text or a datetime")


class Service:
    """A Twinloom service at ``base_url`` (``http://host:port`` or ``https://…``), with an optional bearer
    ``token`` for the command API; ``timeout`` is per request (seconds)."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 10.0) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise InvalidInputError(f"base_url: expected http://host:port or https://host:port, got {base_url!r}")
        if not timeout > 0:
            raise InvalidInputError(f"timeout must be > 0, got {timeout}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"Service({self.base_url!r}, token={'…' if self.token else None})"

    # -- transport -------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Tuple[bytes, Dict[str, str]]:
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                msg = json.loads(text).get("error") or text
            except (ValueError, AttributeError):
                msg = text.strip() or e.reason
            raise ServiceError(str(msg), e.code, url) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServiceConnectionError(f"{url}: {reason}", None, url) from None

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        raw, _ = self._request(method, path, body)
        try:
            return json.loads(raw)
        except ValueError:
            raise ServiceError(f"not JSON: {raw[:200]!r}", None, self.base_url + path) from None

    # -- write-back ------------------------------------------------------------------------------------

    def submit(self, target: str, value: Any, reason: str, dry_run: bool = False) -> Command:
        """``POST /v1/commands``: the command in the state it reached (``refused``, ``allowed`` (a dry run),
        ``awaiting_approval``, ``verified`` or ``failed``). A refusal by the policy is a state, not an
        exception; a malformed request (an empty ``reason`` too: say why the plant should change) or a
        missing/unknown token raises :class:`ServiceError`."""
        body = {"target": target, "value": value, "reason": reason, "dry_run": bool(dry_run)}
        return Command.from_dict(self._json("POST", "/v1/commands", body))

    def get(self, command_id: str) -> Command:
        """``GET /v1/commands/{id}``."""
        return Command.from_dict(self._json("GET", "/v1/commands/" + urllib.parse.quote(command_id, safe="")))

    def approve(self, command_id: str) -> Command:
        """``POST /v1/commands/{id}/approve`` with this client's token: the command after the write."""
        path = "/v1/commands/" + urllib.parse.quote(command_id, safe="") + "/approve"
        return Command.from_dict(self._json("POST", path, {}))

    def stop_autonomy(self) -> str:
        """``POST /v1/autonomy/stop``: no autonomy rule runs until the service restarts."""
        return str(self._json("POST", "/v1/autonomy/stop", {}).get("autonomy", ""))

    # -- history and snapshots -------------------------------------------------------------------------

    def _history_path(self, attr: str, start: Time, end: Time, fmt: Optional[str]) -> str:
        q = {"attr": attr, "from": _time(start, "start"), "to": _time(end, "end")}
        if fmt:
            q["format"] = fmt
        return "/v1/history?" + urllib.parse.urlencode(q)

    def history(self, attr: str, start: Time, end: Time) -> History:
        """``GET /v1/history``: the samples of ``attr`` (``/Prim.attr``) from ``start`` to ``end``
        (inclusive; seconds since the epoch, RFC 3339 text or an aware datetime)."""
        d = self._json("GET", self._history_path(attr, start, end, None))
        prior = d.get("prior")
        return History(
            attr=d.get("attr", attr), shop=d.get("shop", ""), type=d.get("type", ""),
            prior=(float(prior[0]), prior[1]) if prior else None,
            samples=[(float(t), v) for t, v in d.get("samples", [])],
        )

    def history_csv(self, attr: str, start: Time, end: Time) -> str:
        """The same query as CSV text (``time,value`` header, one row per sample)."""
        raw, _ = self._request("GET", self._history_path(attr, start, end, "csv"))
        return raw.decode()

    def snapshot(self, shop: str, format: str = "usdc") -> Snapshot:
        """``GET /v1/snapshot?shop=…``: the shop's live layer as ``.usdc`` bytes (``format="usdc"``) or as
        the ``set`` edits of a delta (``format="json"``), with its ``seq`` and ``epoch``."""
        if format not in ("usdc", "json"):
            raise InvalidInputError(f"format: expected 'usdc' or 'json', got {format!r}")
        q = {"shop": shop}
        if format == "json":
            q["format"] = "json"
        raw, headers = self._request("GET", "/v1/snapshot?" + urllib.parse.urlencode(q))
        seq = int(headers.get("x-twinloom-seq", "0") or 0)
        epoch = int(headers.get("x-twinloom-epoch", "0") or 0)
        if format == "usdc":
            return Snapshot(shop=shop, seq=seq, epoch=epoch, data=raw)
        d = json.loads(raw)
        return Snapshot(shop=d.get("shop", shop), seq=int(d.get("seq", seq)), epoch=int(d.get("epoch", epoch)),
                        edits=list(d.get("edits", [])), layer=d.get("layer"))
