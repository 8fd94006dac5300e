"""``twinloom.service.Service`` against a real ``twinloom run`` over the plant simulator
(``twinloom-plant-sim`` on a free loopback port; the configuration of conftest.twin_config: level 4,
alice operator, carol operator and approver, bob viewer, Zone01's setpoint writable): a missing token is
refused with the service's message; policy refusals come back as states with their rule; a dry run is
``allowed``; a command waits for approval, its requester cannot approve it (409 with the reason), carol's
approval writes it and it ends ``verified`` with the read-back; ``get`` returns it; an unknown id is 404;
history of the zone's temperature has samples and answers like the raw HTTP API; bad times and unknown
attributes raise with the service's reason; snapshots as ``.usdc`` bytes and as JSON edits; nothing
listening raises :class:`ServiceConnectionError`."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

import twinloom
from twinloom.service import Command, Service, ServiceConnectionError, ServiceError

from conftest import TOKENS, ZONE1, ZONE1_TEMPERATURE, Twin, _free_port


@pytest.fixture(scope="module")
def twin(cli: Path, tmp_path_factory):
    t = Twin(cli, tmp_path_factory.mktemp("service"))
    yield t
    t.stop()


def _current(svc: Service, attr: str) -> float:
    """The attribute's value in the paint shop's live layer (a JSON snapshot), waiting until it has one."""
    prim, name = attr.split(".", 1)
    deadline = time.monotonic() + 30
    while True:
        snap = svc.snapshot("paint", format="json")
        for e in snap.edits or []:
            if e.get("op") == "set" and e.get("path") == attr:
                return float(e["value"])
        assert time.monotonic() < deadline, f"{attr} never appeared in the paint snapshot"
        time.sleep(0.2)


def test_commands_are_refused_approved_and_verified(twin: Twin) -> None:
    alice = Service(twin.url, token=TOKENS["alice"])
    carol = Service(twin.url, token=TOKENS["carol"])
    bob = Service(twin.url, token=TOKENS["bob"])
    current = _current(alice, ZONE1)
    value = current + 5.0 if current + 5.0 <= 230.0 else current - 5.0

    with pytest.raises(ServiceError) as e:
        Service(twin.url).submit(ZONE1, value, reason="no token")
    assert e.value.status == 401 and isinstance(e.value, twinloom.TwinloomError)
    with pytest.raises(ServiceError) as e:
        Service(twin.url, token="not-a-token").submit(ZONE1, value, "bad token")
    assert e.value.status == 401

    refused = bob.submit(ZONE1, value, reason="viewer")
    assert (refused.state, refused.rule, refused.requested_by) == ("refused", "role", "bob")
    assert alice.submit(ZONE1, 1000.0, reason="too hot").rule == "max"
    assert alice.submit(ZONE1, current + 40.0 if current + 40 <= 230 else current - 40.0, "big step").rule == "max_step"
    assert alice.submit("/Plant/Paint/Oven/Zone02.twinloom:setpoint", 150.0, "other zone").rule == "not_writable"

    with pytest.raises(ServiceError, match="reason is empty") as e:
        alice.submit(ZONE1, value, "")
    assert e.value.status == 400
    dry = alice.submit(ZONE1, value, reason="dry run first", dry_run=True)
    assert (dry.state, dry.dry_run) == ("allowed", True)

    cmd = alice.submit(ZONE1, value, reason="new clear coat")
    assert isinstance(cmd, Command) and cmd.state == "awaiting_approval", cmd
    assert cmd.target == ZONE1 and cmd.value == value and cmd.requested_by == "alice"
    with pytest.raises(ServiceError) as e:
        alice.approve(cmd.id)
    assert e.value.status == 409 and e.value.message, e.value
    done = carol.approve(cmd.id)
    assert done.state == "verified", done.raw
    assert done.approved_by == "carol" and abs(done.read_back - value) <= 0.001
    assert [h["state"] for h in done.history][:2] == ["received", "awaiting_approval"]
    again = bob.get(cmd.id)
    assert again.state == "verified" and again.id == cmd.id and again.raw == done.raw
    with pytest.raises(ServiceError) as e:
        carol.approve(cmd.id)
    assert e.value.status == 409

    with pytest.raises(ServiceError) as e:
        alice.get("c-no-such-command")
    assert e.value.status == 404 and e.value.message
    # The message is the service's own `{"error": …}`.
    req = urllib.request.Request(twin.url + "/v1/commands/c-no-such-command",
                                 headers={"Authorization": "Bearer " + TOKENS["alice"]})
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(req, timeout=10)
    assert json.loads(raw.value.read())["error"] == e.value.message


def test_history_and_snapshots(twin: Twin) -> None:
    svc = Service(twin.url)
    _current(svc, ZONE1_TEMPERATURE)
    start = time.time() - 120
    deadline = time.monotonic() + 30
    while True:
        h = svc.history(ZONE1_TEMPERATURE, start, time.time() + 1)
        if h.samples:
            break
        assert time.monotonic() < deadline, "no history samples"
        time.sleep(0.5)
    assert (h.attr, h.shop, h.type) == (ZONE1_TEMPERATURE, "paint", "double")
    assert all(isinstance(t, float) and isinstance(v, float) for t, v in h.samples)
    assert [t for t, _ in h.samples] == sorted(t for t, _ in h.samples)
    end = h.samples[-1][0]
    # The same query as the raw API, and as CSV.
    h2 = svc.history(ZONE1_TEMPERATURE, start, end)
    q = urllib.parse.urlencode({"attr": ZONE1_TEMPERATURE, "from": repr(float(start)), "to": repr(end)})
    with urllib.request.urlopen(twin.url + "/v1/history?" + q, timeout=10) as r:
        raw = json.load(r)
    assert [list(s) for s in h2.samples] == raw["samples"]
    csv = svc.history_csv(ZONE1_TEMPERATURE, start, end).splitlines()
    assert csv[0] == "time,value" and len(csv) == len(raw["samples"]) + 1
    with pytest.raises(ServiceError) as e:
        svc.history(ZONE1_TEMPERATURE, "yesterday-ish", end)
    assert e.value.status == 400 and e.value.message
    with pytest.raises(ServiceError) as e:
        svc.history("/Plant/Nowhere.value", start, end)
    assert e.value.status == 404 and e.value.message

    snap = svc.snapshot("paint")
    assert snap.data[:8] == b"PXR-USDC" and snap.seq >= 0 and snap.epoch > 0
    js = svc.snapshot("paint", format="json")
    assert js.shop == "paint" and js.epoch == snap.epoch and any(e["path"] == ZONE1 for e in js.edits)
    with pytest.raises(ServiceError) as e:
        svc.snapshot("no-such-shop")
    assert e.value.status in (400, 404) and e.value.message
    with pytest.raises(twinloom.InvalidInputError):
        svc.snapshot("paint", format="xml")


def test_bad_addresses() -> None:
    with pytest.raises(twinloom.InvalidInputError, match="base_url"):
        Service("ws://127.0.0.1:1")
    with pytest.raises(ServiceConnectionError):
        Service(f"http://127.0.0.1:{_free_port()}", timeout=2).get("c1")
