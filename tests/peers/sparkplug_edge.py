"""An independent Sparkplug B edge node built on PyPI pysparkplug 0.6.1 (its EdgeNode and Device classes):
the happy-path peer of the Sparkplug B host's tests. One edge node, two devices, deterministic values.

Usage: python sparkplug_edge.py BROKER_PORT GROUP EDGE_NODE [--steps N] [--interval-ms MS]
                                [--host-id ID] [--aliases] [--user U --password P]

Connects to the MQTT broker on 127.0.0.1:BROKER_PORT (pysparkplug's Client: MQTT 3.1.1, clean session,
random client id), publishes NBIRTH and the DBIRTHs of Robot01 and Oven01, prints "READY" on stdout
(flushed) once they are written to the socket, then publishes N steps (default 10) of changing values,
--interval-ms apart (default 20), and prints one line
    DONE {"<device or empty>/<metric name>": last published value, ...}
covering every metric it published (births included; the bdSeq metric is under "/bdSeq"). It then stays
connected until killed, and answers rebirth requests: an NCMD with "Node Control/Rebirth" = true makes it
publish NBIRTH (seq 0, the session's bdSeq, current values) and both DBIRTHs again, and print
"EVENT REBIRTH <count>". Any other NCMD or DCMD is printed as "EVENT NCMD <metrics>" / "EVENT DCMD <device>
<metrics>" and not acted on. Lines starting with "EVENT " may come at any time after READY (a reader
waiting for DONE skips them). pysparkplug's own warnings go to stderr.

--host-id ID: before connecting the edge node it waits (with a separate plain paho client) until the
retained Sparkplug 3.0 STATE message on spBv1.0/STATE/ID says {"online": true}, as an edge node with a
configured primary host must; it prints "WAITING STATE ID" first (so READY is not the first line then).
It does not follow the host's STATE afterwards (no disconnect when the host goes offline).
--user/--password: broker credentials (no TLS option).
--aliases: every metric gets an alias (births and data carry name AND alias; pysparkplug requires the name
in data). Without it no metric has an alias.

Metrics (name: Sparkplug type, value at step i, i = 0 at birth .. N):
  node     "Node Control/Rebirth": Boolean false (constant); Uptime: Int64 1000*i; Load: Double 0.5+0.125*i;
           Firmware: String "1.0.0" (constant, birth only)
  Robot01  "Motor/Temperature": Float 40.0+0.5*i; Speed: Double 1000.25+0.5*i; Cycles: Int32 1000+7*i;
           Offset: Int16 -100-i; Running: Boolean i even; Program: String "P%03d" % i;
           Counter: UInt64 2**63+i
  Oven01   "Zone1/Temperature": Float 180.0+0.25*i; Setpoint: Double 180.5 (birth only);
           "Alarm Code": Int16 -(i % 5); "Door Open": Boolean i % 3 == 0; Recipe: String "R-%d" % (i // 2);
           Energy: UInt64 10**12+13*i; Power: Int32 -500+25*i.
           Oven01 reports by exception: its DDATA comes on even steps only (i = 2, 4, ...).
  Each step publishes DDATA Robot01 (all its metrics), then DDATA Oven01 on even steps, then NDATA
  (Uptime, Load). Every Float value is exactly representable in 32 bits.

What pysparkplug 0.6.1 does (read from its installed source, pysparkplug/_edge_node.py and _client.py):
  * No primary host: it never subscribes to or waits for STATE; births go out right on CONNACK.
  * bdSeq: a class-level counter from 0 per process. connect() sets the will (NDEATH, bdSeq 0); on CONNACK
    it publishes NBIRTH with bdSeq 0 and then at once prepares the next session's will (bdSeq 1). Its
    bdSeq metric is datatype Int64 (not UInt64). The will NDEATH is QoS 0, not retained (Sparkplug 3.0
    asks for QoS 1). Its clean disconnect() publishes an NDEATH with the NEXT session's bdSeq (1), not the
    NBIRTH's: this script never calls it (it is killed, so the broker sends the will with the right bdSeq).
    A paho auto-reconnect births again with bdSeq 1, 2, ...
  * seq: one counter 0..255 (wrapping) shared by NBIRTH, DBIRTH, NDATA, DDATA, DDEATH; reset to 0 at each
    connect, so NBIRTH is seq 0, the DBIRTHs 1 and 2. NDEATH carries no seq.
  * Aliases: only if the caller gives them; data metrics must carry the name, so it never sends alias-only
    data. Every message (data included) carries the datatypes; births and the will carry timestamps.
  * Every BIRTH/DATA/DEATH is published QoS 0, not retained. It subscribes to NCMD and each device's DCMD
    with QoS 1.
  * Rebirth: NOT handled by pysparkplug (its default NCMD callback only logs). This script does it (above)
    by re-publishing births through pysparkplug's payload classes and resetting EdgeNode's private seq
    counter (_EdgeNode__seq_cycler).
  * Int8/Int16 negatives are encoded width-limited (Int16 -101 -> int_value 0xFF9B), unlike Eclipse Tahu
    which sign-extends to 32 bits (0xFFFFFF9B); a host should take the low 16 bits as signed. Int32 and
    Int64 are two's complement of their width, as Tahu.
"""

import argparse
import itertools
import json
import struct
import sys
import threading
import time

import paho.mqtt.client as mqtt
from pysparkplug import (
    Client,
    DataType,
    DBirth,
    Device,
    EdgeNode,
    Message,
    MessageType,
    Metric,
    NBirth,
    QoS,
    Topic,
    get_current_timestamp,
)

out_lock = threading.Lock()


def emit(line):
    with out_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            pass


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# (name, datatype, value at step i or None when it is not published at that step)
NODE = [
    ("Node Control/Rebirth", DataType.BOOLEAN, lambda i: False if i == 0 else None),
    ("Uptime", DataType.INT64, lambda i: 1000 * i),
    ("Load", DataType.DOUBLE, lambda i: 0.5 + 0.125 * i),
    ("Firmware", DataType.STRING, lambda i: "1.0.0" if i == 0 else None),
]
ROBOT = [
    ("Motor/Temperature", DataType.FLOAT, lambda i: f32(40.0 + 0.5 * i)),
    ("Speed", DataType.DOUBLE, lambda i: 1000.25 + 0.5 * i),
    ("Cycles", DataType.INT32, lambda i: 1000 + 7 * i),
    ("Offset", DataType.INT16, lambda i: -100 - i),
    ("Running", DataType.BOOLEAN, lambda i: i % 2 == 0),
    ("Program", DataType.STRING, lambda i: "P%03d" % i),
    ("Counter", DataType.UINT64, lambda i: 2**63 + i),
]
OVEN = [
    ("Zone1/Temperature", DataType.FLOAT, lambda i: f32(180.0 + 0.25 * i)),
    ("Setpoint", DataType.DOUBLE, lambda i: 180.5 if i == 0 else None),
    ("Alarm Code", DataType.INT16, lambda i: -(i % 5)),
    ("Door Open", DataType.BOOLEAN, lambda i: i % 3 == 0),
    ("Recipe", DataType.STRING, lambda i: "R-%d" % (i // 2)),
    ("Energy", DataType.UINT64, lambda i: 10**12 + 13 * i),
    ("Power", DataType.INT32, lambda i: -500 + 25 * i),
]
ALIASES = {}  # (device or "", name) -> alias, when --aliases
for n, (dev, table) in enumerate([("", NODE), ("Robot01", ROBOT), ("Oven01", OVEN)]):
    for k, (name, _, _) in enumerate(table):
        ALIASES[(dev, name)] = 100 * (n + 1) + k


class RecordingClient(Client):
    """pysparkplug's Client, remembering what it handed to paho so the caller can wait until it is written,
    and signalling each completed connect (after EdgeNode's connect callback published the births)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.infos = []
        self.births_done = threading.Event()

    def connect(self, host, *, callback=None, **kw):
        def cb(client):
            if callback is not None:
                callback(client)
            self.births_done.set()

        super().connect(host, callback=cb, **kw)

    def publish(self, message, *, include_dtypes=False):
        info = self._client.publish(
            topic=str(message.topic),
            payload=message.payload.encode(include_dtypes=include_dtypes),
            qos=message.qos,
            retain=message.retain,
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.infos.append(info)

    def wait_written(self):
        infos, self.infos = self.infos, []
        for info in infos:
            info.wait_for_publish(10)
            if not info.is_published():
                raise RuntimeError("publish not written within 10 s")


class Edge(EdgeNode):
    """EdgeNode that remembers the bdSeq metric of the NBIRTH it sent (pysparkplug replaces _bd_seq_metric
    with the next session's right after the births) and can rebirth."""

    birth_bd_seq_metric = None

    def _setup_will(self):
        # Called before connecting (will for this session) and at the end of the CONNACK callback, after the
        # NBIRTH went out with the current _bd_seq_metric: keep that one.
        self.birth_bd_seq_metric = getattr(self, "_bd_seq_metric", None)
        super()._setup_will()

    def rebirth(self):
        self._EdgeNode__seq_cycler = itertools.cycle(range(256))
        ts = get_current_timestamp()
        metrics = (*self._metrics.values(), self.birth_bd_seq_metric)
        nb = NBirth(timestamp=ts, seq=self._seq, metrics=metrics)
        self._client.publish(
            Message(topic=Topic(message_type=MessageType.NBIRTH, group_id=self.group_id, edge_node_id=self.edge_node_id),
                    payload=nb,
                    qos=QoS.AT_MOST_ONCE, retain=False),
            include_dtypes=True,
        )
        for device in self._devices.values():
            db = DBirth(timestamp=ts, seq=self._seq, metrics=tuple(device.metrics.values()))
            self._client.publish(
                Message(topic=Topic(message_type=MessageType.DBIRTH, group_id=self.group_id,
                                    edge_node_id=self.edge_node_id, device_id=device.device_id),
                        payload=db, qos=QoS.AT_MOST_ONCE, retain=False),
                include_dtypes=True,
            )


def describe(message):
    return json.dumps(
        [{"name": m.name, "alias": m.alias, "datatype": int(m.datatype), "value": m.value}
         for m in getattr(message.payload, "metrics", ())],
        default=str,
    )


def wait_for_host(port, host_id, user, password):
    emit(f"WAITING STATE {host_id}")
    online = threading.Event()

    def on_message(_c, _ud, msg):
        try:
            if json.loads(msg.payload).get("online") is True:
                online.set()
        except ValueError:
            pass

    c = mqtt.Client(clean_session=True)
    if user is not None:
        c.username_pw_set(user, password)
    c.on_connect = lambda client, *_: client.subscribe(f"spBv1.0/STATE/{host_id}", 1)
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.loop_start()
    online.wait()
    c.disconnect()
    c.loop_stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("group")
    ap.add_argument("edge")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--host-id")
    ap.add_argument("--aliases", action="store_true")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()

    last = {}
    lock = threading.Lock()  # steps and rebirths publish one at a time (one seq counter)
    rebirths = [0]

    def metrics(dev, table, i):
        out = []
        ts = get_current_timestamp()
        for name, dt, fn in table:
            v = fn(i)
            if v is None:
                continue
            alias = ALIASES[(dev, name)] if args.aliases else None
            out.append(Metric(timestamp=ts, name=name, datatype=dt, value=v, alias=alias))
            last[f"{dev}/{name}"] = v
        return out

    def on_ncmd(node, message):
        ms = getattr(message.payload, "metrics", ())
        if any(m.name == "Node Control/Rebirth" and m.value is True for m in ms):
            # Not in paho's thread, which must stay free to write what a step is waiting for.
            threading.Thread(target=do_rebirth, args=(node,), daemon=True).start()
        else:
            emit("EVENT NCMD " + describe(message))

    def do_rebirth(node):
        with lock:
            node.rebirth()
            client.wait_written()
            rebirths[0] += 1
            emit(f"EVENT REBIRTH {rebirths[0]}")

    def on_dcmd(_node, message):
        emit(f"EVENT DCMD {message.topic.device_id} " + describe(message))

    if args.host_id:
        wait_for_host(args.port, args.host_id, args.user, args.password)

    client = RecordingClient(username=args.user, password=args.password)
    node = Edge(args.group, args.edge, metrics("", NODE, 0), client=client, cmd_callback=on_ncmd)
    node.register(Device("Robot01", metrics("Robot01", ROBOT, 0), cmd_callback=on_dcmd))
    node.register(Device("Oven01", metrics("Oven01", OVEN, 0), cmd_callback=on_dcmd))
    with lock:
        node.connect("127.0.0.1", port=args.port, blocking=False)
        if not client.births_done.wait(10):
            raise SystemExit(f"sparkplug_edge: no connection to 127.0.0.1:{args.port} within 10 s")
        client.wait_written()
    last["/bdSeq"] = node.birth_bd_seq_metric.value
    emit("READY")

    for i in range(1, args.steps + 1):
        time.sleep(args.interval_ms / 1000)
        with lock:
            node.update_device("Robot01", metrics("Robot01", ROBOT, i))
            if i % 2 == 0:
                node.update_device("Oven01", metrics("Oven01", OVEN, i))
            node.update(metrics("", NODE, i))
            client.wait_written()
    emit("DONE " + json.dumps(last, sort_keys=True))
    threading.Event().wait()  # stay connected (pysparkplug's paho thread runs) until killed


if __name__ == "__main__":
    main()
