"""An MES message feed for Twinloom's MES part (docs/mes.md): a realistic, deterministic assembly-shop run.

Usage:
  python mes_feed.py --print [--cars N] [--stations S] [--steps K] [--noise]
  python mes_feed.py --post PORT --token TOKEN [--host 127.0.0.1] [--batch B] [--cars N] …
  python mes_feed.py --config [--stations S]

N cars (default 10) run through S stations (default 5: ASM-010, ASM-020, … of the ASSY scope) one takt
(--takt-ms, default 60000) per station: each car gets a JobOrder (order id, VIN, model, variant, options,
sequence), then at each station `entered`, a MaterialActual (a part or lot per station), `completed`
(ProcessSegmentID, Result) and `left`; after the last station `leftShop`. Messages are in time order, one
takt step after another (downstream stations first), starting at --start (epoch ms, default
2025-11-25T08:00:00Z). --steps K stops after K takt steps, so cars are still in work at the end.
--noise adds what real feeds have: every 7th message sent twice (duplicate), a stale `entered` with an
older timestamp for every 4th car (out_of_order), and a station event for a VIN with no job order every
25 messages (unknown_vin).

--print writes one JSON message per line to stdout. --post sends them to http://HOST:PORT/v1/mes with
`Authorization: Bearer TOKEN`, B messages (default 100) per request as a JSON array, over one keep-alive
connection, and prints one JSON line: {"messages", "requests", "received", "applied", "rejected"} summed
from the answers (exit 1 if a request fails). --config prints the matching [mes] table (station mappings
to /Plant/Assembly/Line1/StationNNN). Standard library only.
"""

import argparse
import http.client
import json
import sys

START_MS = 1764057600000  # 2025-11-25T08:00:00Z
MODELS = [("ID.3", "Pure"), ("ID.4", "Pro"), ("ID.4", "Pro Performance"), ("ID.5", "GTX")]
OPTIONS = ["PANORAMA_ROOF", "TOW_BAR", "HEAT_PUMP", "MATRIX_LED", "HEAD_UP", "ACC_PLUS"]
# Per station: operation, part number, quantity, unit, whether each part has a serial number.
WORK = [
    ("MARRIAGE", "1EA915105", 1, "EA", True),  # traction battery
    ("WHEELS", "11A601025", 4, "EA", False),
    ("SEATS", "11A881105", 2, "EA", False),
    ("COCKPIT", "11A857001", 1, "EA", True),
    ("FLUIDS", "G052190A2", 2.5, "l", False),
    ("GLAZING", "11A845011", 1, "EA", False),
    ("DOORS", "11A831055", 4, "EA", False),
    ("EOL_TEST", "11A919605", 1, "EA", True),
]


def station_id(k):
    return f"ASM-{(k + 1) * 10:03d}"


def vin(i):
    return f"WVWZZZE1ZPP{100000 + i:06d}"


def iso(ms):
    secs, milli = divmod(ms, 1000)
    days, rem = divmod(secs, 86400)
    # civil_from_days (Howard Hinnant), so no datetime/timezone subtleties.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y += m <= 2
    return f"{y:04d}-{m:02d}-{d:02d}T{rem // 3600:02d}:{rem % 3600 // 60:02d}:{rem % 60:02d}.{milli:03d}Z"


def messages(cars, stations, steps, takt, start, noise):
    n = 0

    def msg(kind, at, **fields):
        nonlocal n
        n += 1
        # Both timestamp forms appear: RFC 3339 text and epoch milliseconds.
        return {"messageId": f"MES-{n:07d}", "messageType": kind, "timestamp": iso(at) if n % 2 else at, **fields}

    out = []
    total = cars + stations + 1 if steps is None else steps
    for s in range(total):
        t = start + s * takt
        # The car past the last station leaves the shop.
        i = s - stations
        if 0 <= i < cars:
            out.append(msg("OperationsEvent", t, VIN=vin(i), EquipmentID=station_id(stations - 1), Event="left"))
            out.append(msg("SegmentResponse", t + 500, VIN=vin(i), Event="leftShop"))
        for k in reversed(range(stations)):
            i = s - k
            if not 0 <= i < cars:
                continue
            v, eq = vin(i), station_id(k)
            if k == 0:
                model, variant = MODELS[i % len(MODELS)]
                opts = [o for j, o in enumerate(OPTIONS) if (i >> j) & 1]
                out.append(msg("JobOrder", t - 30000, ID=f"45000{12000 + i}", VIN=v, WorkMasterID=model,
                               Variant=variant, Options=opts, Sequence=1000 + i,
                               HierarchyScope={"EquipmentID": "ASSY", "EquipmentElementLevel": "Area"}))
            else:
                out.append(msg("OperationsEvent", t, VIN=v, EquipmentID=station_id(k - 1), Event="left"))
            out.append(msg("OperationsEvent", t + 1000, VIN=v, EquipmentID=eq, Event="entered"))
            op, part, qty, unit, serial = WORK[k % len(WORK)]
            actual = {"VIN": v, "EquipmentID": eq, "MaterialDefinitionID": part,
                      "MaterialLotID": f"LOT-{part[-4:]}-{i // 5:03d}",
                      "Quantity": {"QuantityString": str(qty), "UnitOfMeasure": unit}}
            if serial:
                actual["MaterialSubLotID"] = f"SN-{part[-4:]}-{i:06d}"
            out.append(msg("MaterialActual", t + 20000, **actual))
            out.append(msg("SegmentResponse", t + 50000, VIN=v, EquipmentID=eq, Event="completed",
                           ProcessSegmentID=op, Result="NOK" if i % 17 == 16 else "OK"))
            if noise and i % 4 == 1 and k == 1:
                # A stale event from the previous station arrives late.
                out.append(msg("OperationsEvent", t - 5000, VIN=v, EquipmentID=station_id(0), Event="entered"))
    if not noise:
        return out
    noisy = []
    for j, m in enumerate(out):
        noisy.append(m)
        if j % 7 == 6:
            noisy.append(m)  # resent: same messageId
        if j % 25 == 24:
            noisy.append({"messageId": f"MES-U{j:06d}", "messageType": "OperationsEvent", "timestamp": m["timestamp"],
                          "VIN": "WVWZZZE1ZPP999999", "EquipmentID": station_id(0), "Event": "entered"})
    return noisy


def config(stations):
    lines = ["[mes]", "", "[[mes.shop]]", 'scope = "ASSY"', 'prim = "/Plant/Assembly"']
    for k in range(stations):
        lines += ["", "[[mes.station]]", f'equipment = "{station_id(k)}"',
                  f'prim = "/Plant/Assembly/Line1/Station{(k + 1) * 10:03d}"']
    return "\n".join(lines) + "\n"


def post(host, port, token, msgs, batch):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    total = {"messages": len(msgs), "requests": 0, "received": 0, "applied": 0, "rejected": 0}
    for j in range(0, len(msgs), batch):
        body = json.dumps(msgs[j:j + batch]).encode()
        conn.request("POST", "/v1/mes", body=body,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        text = resp.read().decode()
        if resp.status != 200:
            print(f"POST /v1/mes: HTTP {resp.status}: {text}", file=sys.stderr)
            sys.exit(1)
        report = json.loads(text)
        total["requests"] += 1
        total["received"] += report.get("received", 0)
        total["applied"] += report.get("applied", 0)
        total["rejected"] += len(report.get("rejected", []))
    conn.close()
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cars", type=int, default=10)
    ap.add_argument("--stations", type=int, default=5)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--takt-ms", type=int, default=60000)
    ap.add_argument("--start", type=int, default=START_MS)
    ap.add_argument("--noise", action="store_true")
    ap.add_argument("--print", action="store_true", dest="print_")
    ap.add_argument("--post", type=int, metavar="PORT")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--token", default="")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--config", action="store_true")
    a = ap.parse_args()
    if a.config:
        sys.stdout.write(config(a.stations))
        return
    msgs = messages(a.cars, a.stations, a.steps, a.takt_ms, a.start, a.noise)
    if a.print_:
        out = sys.stdout
        for m in msgs:
            out.write(json.dumps(m, separators=(",", ":")) + "\n")
    elif a.post is not None:
        print(json.dumps(post(a.host, a.post, a.token, msgs, max(1, a.batch))))
    else:
        ap.error("one of --print, --post PORT or --config")


if __name__ == "__main__":
    main()
