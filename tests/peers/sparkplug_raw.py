"""A small, precisely controlled Sparkplug B 3.0 edge node (paho-mqtt 1.6 + Eclipse Tahu's protobuf classes
as shipped by PyPI pysparkplug, pysparkplug._protobuf.sparkplug_b_pb2) for the Sparkplug B host's tests.
It does only what it is told, so a test can make every case a host must handle: alias-only data, seq gaps,
unknown aliases, historical values, stale deaths, will deaths, reconnects, garbage payloads.

Usage: python sparkplug_raw.py BROKER_PORT GROUP EDGE_NODE [--bdseq N] [--user U --password P]
                               [--cafile CA [--certfile CERT --keyfile KEY]]

Connects to the MQTT broker on 127.0.0.1:BROKER_PORT (MQTT 3.1.1, clean session, client id
"twinloom-raw-EDGE_NODE-PID", TLS when --cafile is given), with a will: QoS 1, not retained, on
spBv1.0/GROUP/NDEATH/EDGE_NODE, whose payload carries the metric "bdSeq" (UInt64) of this session. The
first session's bdSeq is N (default 0); each new session (`reconnect`) adds 1, wrapping 255 -> 0.
It subscribes (QoS 1) to its NCMD topic and Dev1's DCMD topic and waits for the SUBACK, then prints
"READY" on stdout (flushed); a refused or failed connection ends it with status 1 and the reason on stderr. Nothing is published until told: send `birth` first.

Then it reads commands from stdin, one per line, and answers each with exactly one stdout line, flushed,
that starts with "OK" (done; the publish has been written to the socket) or "ERR <why>" (nothing was
published). Besides the answers it prints unsolicited lines that start with "EVENT " (below), from another
thread, whole lines only: a reader waiting for a command's answer must skip lines starting with "EVENT ".

  birth               NBIRTH (seq 0) then DBIRTH of Dev1 (seq 1): every metric with name, alias,
                      datatype, value and timestamp. Answers "OK birth bdSeq=<n>".
  data NAME VALUE     DDATA of Dev1, the metric by ALIAS ONLY (no name, no datatype), next seq.
  datanamed NAME VALUE  the same with name and alias.
  ndata NAME VALUE    NDATA, a node metric (Uptime, Mode, Load) by alias only, next seq.
  historical NAME VALUE DDATA of Dev1 by alias with is_historical=true and a metric timestamp one minute
                      in the past; it does not change the values `state` reports.
  unknownalias        DDATA of Dev1 with one metric of alias 999 (never born; int_value 1), next seq.
  gap                 skips one seq number: the next DATA/DEATH/BIRTH-less publish uses seq+2.
  staledeath          NDEATH (QoS 0) whose bdSeq is the PREVIOUS session's (bdSeq-1, wrapping), which a
                      host must ignore. Answers "OK staledeath bdSeq=<n-1>".
  ddeath              DDEATH of Dev1, next seq.
  malformed           DDATA of Dev1 whose payload is garbage bytes (not a Sparkplug payload); uses no seq.
  drop                closes the TCP connection without DISCONNECT (the broker then publishes the will
                      NDEATH) and stays running, not connected; `reconnect` makes a new session.
  kill                the same, answers "OK kill", then exits (status 0).
  reconnect           if still connected: NDEATH with this session's bdSeq (QoS 0), then DISCONNECT. Then a
                      new MQTT session whose will carries bdSeq+1, then births as `birth` does. Answers
                      "OK reconnect bdSeq=<n+1>".
  state               "OK {json}": {"bdSeq": n, "seq": last seq used or null, "connected": bool,
                      "rebirths": count, "values": {"<Dev1 or empty>/<metric>": last live value}}.
Data commands answer "OK <command> seq=<seq used>". VALUE is parsed by the metric's datatype: decimal
integers (may be negative), floats, true/false (or 1/0) for Boolean, the rest of the line for String.
A command that needs a connection answers "ERR not connected" after drop.

Unsolicited lines:
  EVENT REBIRTH <count>     an NCMD "Node Control/Rebirth" = true (by name, or by its alias 1) came in and
                            NBIRTH (seq 0, the same bdSeq) + DBIRTH (seq 1) were published again.
  EVENT NCMD <json>         any other NCMD: its metrics as [{"name", "alias", "datatype", "value"}].
  EVENT DCMD Dev1 <json>    a DCMD for Dev1, likewise. Nothing is written back.
  EVENT CONNECTION_LOST     the broker closed the connection (not after drop/kill/reconnect).

Metrics (name, alias, datatype, value at start):
  node   bdSeq (no alias) UInt64 = session bdSeq; "Node Control/Rebirth" 1 Boolean false;
         Uptime 2 Int64 0; Mode 3 String "auto"; Load 4 Float 0.5
  Dev1   Temp 10 Float 21.5; Count 11 Int32 0; Running 12 Boolean true; Pressure 13 Double 1.013;
         Delta 14 Int16 -7; Label 15 String "idle"; Total 16 UInt64 9223372036854775808
Sparkplug 3.0 rules followed: topics spBv1.0/GROUP/{NBIRTH,NDATA,NDEATH}/EDGE_NODE and
spBv1.0/GROUP/{DBIRTH,DDATA,DDEATH}/EDGE_NODE/Dev1; BIRTH/DATA/DEATH published QoS 0, not retained (the
will QoS 1); seq 0..255 wrapping, NBIRTH seq 0, NDEATH without seq; every payload and every metric has a
timestamp in ms since the epoch. Encoding as Eclipse Tahu: Int8/Int16/Int32 in int_value as the 32-bit
two's complement (Int16 -7 -> 0xFFFFFFF9), Int64 in long_value as the 64-bit two's complement, UInt64 in
long_value, Float in float_value, Double in double_value, Boolean in boolean_value, String in
string_value. It does not wait for a primary host's STATE.
"""

import argparse
import json
import os
import queue
import socket
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from pysparkplug._protobuf import sparkplug_b_pb2 as pb

DT = pb.DataType
DEVICE = "Dev1"
NODE_METRICS = {  # name: (alias, datatype, initial value)
    "Node Control/Rebirth": (1, DT.Boolean, False),
    "Uptime": (2, DT.Int64, 0),
    "Mode": (3, DT.String, "auto"),
    "Load": (4, DT.Float, 0.5),
}
DEVICE_METRICS = {
    "Temp": (10, DT.Float, 21.5),
    "Count": (11, DT.Int32, 0),
    "Running": (12, DT.Boolean, True),
    "Pressure": (13, DT.Double, 1.013),
    "Delta": (14, DT.Int16, -7),
    "Label": (15, DT.String, "idle"),
    "Total": (16, DT.UInt64, 2**63),
}
REBIRTH = "Node Control/Rebirth"
GARBAGE = b"\xff\xff\xff\xff not a Sparkplug B payload \x00\x01"

out_lock = threading.Lock()


def emit(line):
    with out_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            pass


def now_ms():
    return int(time.time() * 1000)


def set_value(metric, datatype, value):
    """Stores `value` in the protobuf field Tahu uses for `datatype`."""
    if datatype in (DT.Int8, DT.Int16, DT.Int32):
        metric.int_value = value & 0xFFFFFFFF
    elif datatype in (DT.UInt8, DT.UInt16, DT.UInt32):
        metric.int_value = value
    elif datatype == DT.Int64:
        metric.long_value = value & 0xFFFFFFFFFFFFFFFF
    elif datatype in (DT.UInt64, DT.DateTime):
        metric.long_value = value
    elif datatype == DT.Float:
        metric.float_value = value
    elif datatype == DT.Double:
        metric.double_value = value
    elif datatype == DT.Boolean:
        metric.boolean_value = value
    elif datatype in (DT.String, DT.Text, DT.UUID):
        metric.string_value = value
    else:
        raise ValueError(f"datatype {datatype} not supported here")


def parse_value(datatype, text):
    if datatype in (DT.Float, DT.Double):
        return float(text)
    if datatype == DT.Boolean:
        low = text.strip().lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if datatype in (DT.String, DT.Text, DT.UUID):
        return text
    return int(text)


def decode_metric(m):
    """A received metric as JSON-able dict (for EVENT NCMD/DCMD lines)."""
    field = m.WhichOneof("value")
    value = getattr(m, field) if field else None
    return {
        "name": m.name if m.HasField("name") else None,
        "alias": m.alias if m.HasField("alias") else None,
        "datatype": m.datatype if m.HasField("datatype") else None,
        "value": value,
    }


def connect_sync(c, port, done, what):
    """Connects and runs paho's loop in this thread until `done` is set (CONNACK/SUBACK handled), so a
    refused or failed connection (bad password, TLS alert) ends the program at once with its reason;
    then starts paho's network thread."""
    try:
        c.connect("127.0.0.1", port, keepalive=30)
        deadline = time.monotonic() + 10
        while not done.is_set():
            rc = c.loop(timeout=0.05)
            if done.is_set():  # a refusing CONNACK sets it too, and paho's loop then says CONN_REFUSED
                break
            if rc != mqtt.MQTT_ERR_SUCCESS:
                raise SystemExit(f"{what}: connection to 127.0.0.1:{port} lost: {mqtt.error_string(rc)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: no answer from 127.0.0.1:{port} within 10 s")
    except OSError as e:  # refused, TLS errors
        raise SystemExit(f"{what}: cannot connect to 127.0.0.1:{port}: {type(e).__name__}: {e}") from None
    c.loop_start()


class RawEdge:
    def __init__(self, args):
        self.args = args
        self.group = args.group
        self.edge = args.edge
        self.bd_seq = args.bdseq % 256
        self.seq = None  # last seq used in this session, None before the first birth
        self.next_seq_skip = 0
        self.node_values = {k: v[2] for k, v in NODE_METRICS.items()}
        self.dev_values = {k: v[2] for k, v in DEVICE_METRICS.items()}
        self.lock = threading.RLock()  # one publish sequence at a time (commands vs. rebirths)
        self.client = None
        self.connected = False
        self.expect_close = False
        self.rebirths = 0
        self.rebirth_requests = queue.Queue()
        threading.Thread(target=self.rebirth_worker, daemon=True).start()

    # topics
    def topic(self, kind, device=None):
        t = f"spBv1.0/{self.group}/{kind}/{self.edge}"
        return t + "/" + device if device else t

    def take_seq(self):
        self.seq = 0 if self.seq is None else (self.seq + 1 + self.next_seq_skip) % 256
        self.next_seq_skip = 0
        return self.seq

    def death_payload(self, bd_seq):
        p = pb.Payload()
        p.timestamp = now_ms()
        m = p.metrics.add()
        m.name = "bdSeq"
        m.timestamp = p.timestamp
        m.datatype = DT.UInt64
        m.long_value = bd_seq
        return p.SerializeToString()

    # connection
    def connect(self):
        a = self.args
        c = mqtt.Client(
            client_id=f"twinloom-raw-{self.edge}-{os.getpid()}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        if a.user is not None:
            c.username_pw_set(a.user, a.password)
        if a.cafile:
            c.tls_set(ca_certs=a.cafile, certfile=a.certfile, keyfile=a.keyfile, cert_reqs=ssl.CERT_REQUIRED)
        c.will_set(self.topic("NDEATH"), self.death_payload(self.bd_seq), qos=1, retain=False)
        subscribed = threading.Event()
        failure = []

        def on_connect(client, _ud, _flags, rc):
            if rc != 0:
                failure.append(mqtt.connack_string(rc))
                subscribed.set()
                return
            client.subscribe([(self.topic("NCMD"), 1), (self.topic("DCMD", DEVICE), 1)])

        def on_disconnect(_client, _ud, _rc):
            was = self.connected
            self.connected = False
            if was and not self.expect_close:
                emit("EVENT CONNECTION_LOST")

        c.on_connect = on_connect
        c.on_subscribe = lambda *_: subscribed.set()
        c.on_disconnect = on_disconnect
        c.on_message = self.on_message
        self.expect_close = False
        connect_sync(c, a.port, subscribed, "sparkplug_raw")
        if failure:
            raise SystemExit(f"sparkplug_raw: connection refused: {failure[0]}")
        self.client = c
        self.connected = True
        self.seq = None

    def publish(self, topic, payload, qos=0):
        info = self.client.publish(topic, payload, qos=qos, retain=False)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        return info

    def publish_wait(self, topic, payload, qos=0):
        info = self.publish(topic, payload, qos)
        info.wait_for_publish(10)
        if not info.is_published():
            raise RuntimeError("publish not written within 10 s")

    def drop_socket(self):
        """Closes the TCP connection without DISCONNECT, so the broker publishes the will."""
        self.expect_close = True
        sock = self.client.socket()
        self.connected = False
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.client.loop_stop()

    # births
    def births(self):
        """NBIRTH (seq 0) + DBIRTH (seq 1), each written to the socket before it returns."""
        self.seq = None
        self.next_seq_skip = 0
        ts = now_ms()
        nb = pb.Payload()
        nb.timestamp = ts
        nb.seq = self.take_seq()
        m = nb.metrics.add()
        m.name, m.timestamp, m.datatype, m.long_value = "bdSeq", ts, DT.UInt64, self.bd_seq
        for name, (alias, dt, _) in NODE_METRICS.items():
            m = nb.metrics.add()
            m.name, m.alias, m.timestamp, m.datatype = name, alias, ts, dt
            set_value(m, dt, self.node_values[name])
        db = pb.Payload()
        db.timestamp = ts
        db.seq = self.take_seq()
        for name, (alias, dt, _) in DEVICE_METRICS.items():
            m = db.metrics.add()
            m.name, m.alias, m.timestamp, m.datatype = name, alias, ts, dt
            set_value(m, dt, self.dev_values[name])
        self.publish_wait(self.topic("NBIRTH"), nb.SerializeToString())
        self.publish_wait(self.topic("DBIRTH", DEVICE), db.SerializeToString())

    def on_message(self, _client, _ud, msg):
        try:
            p = pb.Payload.FromString(msg.payload)
        except Exception as e:  # noqa: BLE001 - report, never die in paho's thread
            emit(f"EVENT BADCMD {msg.topic} {e}")
            return
        metrics = [decode_metric(m) for m in p.metrics]
        if msg.topic == self.topic("NCMD"):
            rebirth = any(
                (m["name"] == REBIRTH or (m["name"] is None and m["alias"] == NODE_METRICS[REBIRTH][0]))
                and m["value"] is True
                for m in metrics
            )
            if rebirth:
                # Not here: paho's network thread must stay free to write what a command is waiting for.
                self.rebirth_requests.put(None)
                return
            emit("EVENT NCMD " + json.dumps(metrics))
        else:
            emit(f"EVENT DCMD {DEVICE} " + json.dumps(metrics))

    def rebirth_worker(self):
        while True:
            self.rebirth_requests.get()
            with self.lock:
                if not self.connected:
                    continue
                try:
                    self.births()
                except Exception as e:  # noqa: BLE001
                    emit(f"EVENT REBIRTH_FAILED {type(e).__name__}: {e}")
                    continue
                self.rebirths += 1
                emit(f"EVENT REBIRTH {self.rebirths}")

    # commands
    def data(self, kind, name, text, named=False, historical=False):
        table, values, device = (
            (NODE_METRICS, self.node_values, None) if kind == "NDATA" else (DEVICE_METRICS, self.dev_values, DEVICE)
        )
        if name not in table or name == REBIRTH:
            return f"ERR unknown metric {name}"
        alias, dt, _ = table[name]
        try:
            value = parse_value(dt, text)
        except ValueError as e:
            return f"ERR bad value: {e}"
        p = pb.Payload()
        p.timestamp = now_ms()
        p.seq = self.take_seq()
        m = p.metrics.add()
        m.alias = alias
        if named:
            m.name = name
        m.timestamp = p.timestamp - 60_000 if historical else p.timestamp
        if historical:
            m.is_historical = True
        set_value(m, dt, value)
        self.publish_wait(self.topic(kind, device), p.SerializeToString())
        if not historical:
            values[name] = value
        return f"seq={p.seq}"

    def command(self, line):
        parts = line.split(maxsplit=2)
        if not parts:
            return "ERR empty command"
        cmd = parts[0]
        if cmd == "state":
            values = {f"/{k}": v for k, v in self.node_values.items()}
            values.update({f"{DEVICE}/{k}": v for k, v in self.dev_values.items()})
            state = {
                "bdSeq": self.bd_seq,
                "seq": self.seq,
                "connected": self.connected,
                "rebirths": self.rebirths,
                "values": values,
            }
            return "OK " + json.dumps(state)
        if cmd == "reconnect":
            if self.connected:
                self.publish_wait(self.topic("NDEATH"), self.death_payload(self.bd_seq))
                self.expect_close = True
                self.client.disconnect()
                self.client.loop_stop()
            self.bd_seq = (self.bd_seq + 1) % 256
            self.connect()
            self.births()
            return f"OK reconnect bdSeq={self.bd_seq}"
        if not self.connected:
            return "ERR not connected"
        if cmd == "birth":
            self.births()
            return f"OK birth bdSeq={self.bd_seq}"
        if cmd in ("data", "datanamed", "ndata", "historical"):
            if len(parts) < 3:
                return f"ERR usage: {cmd} NAME VALUE"
            kind = "NDATA" if cmd == "ndata" else "DDATA"
            r = self.data(kind, parts[1], parts[2], named=cmd == "datanamed", historical=cmd == "historical")
            return r if r.startswith("ERR") else f"OK {cmd} {r}"
        if cmd == "unknownalias":
            p = pb.Payload()
            p.timestamp = now_ms()
            p.seq = self.take_seq()
            m = p.metrics.add()
            m.alias, m.timestamp, m.int_value = 999, p.timestamp, 1
            self.publish_wait(self.topic("DDATA", DEVICE), p.SerializeToString())
            return f"OK unknownalias seq={p.seq}"
        if cmd == "gap":
            self.next_seq_skip += 1
            return "OK gap"
        if cmd == "staledeath":
            stale = (self.bd_seq - 1) % 256
            self.publish_wait(self.topic("NDEATH"), self.death_payload(stale))
            return f"OK staledeath bdSeq={stale}"
        if cmd == "ddeath":
            p = pb.Payload()
            p.timestamp = now_ms()
            p.seq = self.take_seq()
            self.publish_wait(self.topic("DDEATH", DEVICE), p.SerializeToString())
            return f"OK ddeath seq={p.seq}"
        if cmd == "malformed":
            self.publish_wait(self.topic("DDATA", DEVICE), GARBAGE)
            return "OK malformed"
        if cmd == "drop":
            self.drop_socket()
            return "OK drop"
        if cmd == "kill":
            self.drop_socket()
            emit("OK kill")
            os._exit(0)
        return f"ERR unknown command {cmd}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("group")
    ap.add_argument("edge")
    ap.add_argument("--bdseq", type=int, default=0)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--cafile")
    ap.add_argument("--certfile")
    ap.add_argument("--keyfile")
    args = ap.parse_args()
    edge = RawEdge(args)
    edge.connect()
    emit("READY")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        with edge.lock:
            try:
                answer = edge.command(line)
            except Exception as e:  # noqa: BLE001 - every command gets one answer line
                answer = f"ERR {type(e).__name__}: {e}"
        emit(answer)
    # stdin closed: leave without DISCONNECT, like a crash (the broker publishes the will)
    os._exit(0)


if __name__ == "__main__":
    main()
