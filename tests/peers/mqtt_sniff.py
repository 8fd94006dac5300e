"""An MQTT subscriber (paho-mqtt 1.6) that prints every message it gets as one JSON line, decoding Sparkplug B
payloads with Eclipse Tahu's protobuf classes (as shipped by PyPI pysparkplug). The tests use it to see
what the peers really put on the broker.

Usage: python mqtt_sniff.py BROKER_PORT FILTER [FILTER ...] [--user U --password P] [--cafile CA
                            [--certfile CERT --keyfile KEY]]

Connects to 127.0.0.1:BROKER_PORT (MQTT 3.1.1, clean session), subscribes to each FILTER with QoS 1, and
prints "READY" on stdout (flushed) once the broker acknowledged the subscriptions (a refused or failed
connection: exit status 1 and the reason on stderr). Then each message comes
as one line starting with "{" (flushed), in the order received:

  {"topic": T, "qos": Q, "retain": bool, "kind": K, ...}
  K = "sparkplug" (topic spBv1.0/GROUP/TYPE/EDGE[/DEVICE], payload decoded), with
        "type": "NBIRTH" | "DDATA" | ..., "group", "edge", "device" (null for node messages),
        "timestamp": ms or null, "seq": n or null, "metrics": [{"name": str or null, "alias": n or null,
        "datatype": n or null (as sent), "value": decoded value or null, "timestamp": ms or null,
        "is_historical": bool, "is_null": bool, "resolved": "<device or empty>/<name>" or null}]
        "resolved" and the value's decoding use what this sniffer saw in the node's/device's last BIRTH
        when a metric comes by alias only or without its datatype. Values: Int8/16/32/64 as signed integers
        (the low 8/16/32/64 bits of the field, so both Tahu's sign-extended and width-limited encodings
        decode), UInt* as unsigned, Float/Double as numbers, Boolean, String. A metric whose datatype is
        unknown gives its raw protobuf field value.
  K = "sparkplug-error": the payload is not a Sparkplug B payload: "error": text, "hex": payload bytes.
  K = "json": "json": the payload parsed as JSON (STATE messages, plain JSON sources).
  K = "text": "text": the payload as UTF-8 text that is not JSON.   K = "bytes": "hex": anything else.

Stdin commands, one per line, each answered by one line starting with "OK" or "ERR" (message lines start
with "{" and never with "OK"):
  rebirth GROUP EDGE       publishes NCMD spBv1.0/GROUP/NCMD/EDGE with "Node Control/Rebirth" (Boolean)
                           = true, QoS 0, as a Sparkplug host does.
  state HOST_ID true|false publishes the Sparkplug 3.0 host STATE spBv1.0/STATE/HOST_ID, retained, QoS 1,
                           payload {"online": bool, "timestamp": ms}.
"""

import argparse
import json
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from pysparkplug._protobuf import sparkplug_b_pb2 as pb

DT = pb.DataType
out_lock = threading.Lock()
births = {}  # (group, edge, device or None) -> {alias: (name, datatype)}, {name: datatype}


def emit(line):
    with out_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            pass


def signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def decode_value(m, datatype):
    field = m.WhichOneof("value")
    if field is None:
        return None
    raw = getattr(m, field)
    if datatype == DT.Int8:
        return signed(raw, 8)
    if datatype == DT.Int16:
        return signed(raw, 16)
    if datatype == DT.Int32:
        return signed(raw, 32)
    if datatype == DT.Int64:
        return signed(raw, 64)
    if isinstance(raw, bytes):
        return raw.hex()
    return raw


def decode_sparkplug(topic, payload):
    parts = topic.split("/")
    kind = parts[2]
    group, edge = parts[1], parts[3]
    device = parts[4] if len(parts) > 4 else None
    p = pb.Payload.FromString(payload)
    key = (group, edge, device)
    if kind in ("NBIRTH", "DBIRTH"):
        if kind == "NBIRTH":  # a node's birth forgets its devices' births
            for k in [k for k in births if k[:2] == (group, edge)]:
                del births[k]
        aliases, types = {}, {}
        for m in p.metrics:
            if m.HasField("alias"):
                aliases[m.alias] = (m.name, m.datatype)
            types[m.name] = m.datatype
        births[key] = (aliases, types)
    aliases, types = births.get(key, ({}, {}))
    metrics = []
    for m in p.metrics:
        name = m.name if m.HasField("name") else None
        datatype = m.datatype if m.HasField("datatype") else None
        resolved_name = name
        if resolved_name is None and m.HasField("alias") and m.alias in aliases:
            resolved_name = aliases[m.alias][0]
        dt = datatype
        if dt is None and resolved_name is not None:
            dt = types.get(resolved_name)
        metrics.append(
            {
                "name": name,
                "alias": m.alias if m.HasField("alias") else None,
                "datatype": datatype,
                "value": decode_value(m, dt),
                "timestamp": m.timestamp if m.HasField("timestamp") else None,
                "is_historical": m.is_historical,
                "is_null": m.is_null,
                "resolved": None if resolved_name is None else f"{device or ''}/{resolved_name}",
            }
        )
    return {
        "type": kind,
        "group": group,
        "edge": edge,
        "device": device,
        "timestamp": p.timestamp if p.HasField("timestamp") else None,
        "seq": p.seq if p.HasField("seq") else None,
        "metrics": metrics,
    }


def on_message(_client, _ud, msg):
    line = {"topic": msg.topic, "qos": msg.qos, "retain": bool(msg.retain)}
    parts = msg.topic.split("/")
    if parts[0] == "spBv1.0" and len(parts) >= 4 and parts[1] != "STATE":
        try:
            line["kind"] = "sparkplug"
            line.update(decode_sparkplug(msg.topic, msg.payload))
        except Exception as e:  # noqa: BLE001 - any decode failure is reported, not fatal
            line["kind"] = "sparkplug-error"
            line["error"] = f"{type(e).__name__}: {e}"
            line["hex"] = msg.payload.hex()
    else:
        try:
            text = msg.payload.decode("utf-8")
        except UnicodeDecodeError:
            line["kind"], line["hex"] = "bytes", msg.payload.hex()
        else:
            try:
                line["kind"], line["json"] = "json", json.loads(text)
            except ValueError:
                line["kind"], line["text"] = "text", text
    emit(json.dumps(line))


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("filters", nargs="+")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--cafile")
    ap.add_argument("--certfile")
    ap.add_argument("--keyfile")
    args = ap.parse_args()
    c = mqtt.Client(client_id="", clean_session=True, protocol=mqtt.MQTTv311)
    if args.user is not None:
        c.username_pw_set(args.user, args.password)
    if args.cafile:
        c.tls_set(ca_certs=args.cafile, certfile=args.certfile, keyfile=args.keyfile, cert_reqs=ssl.CERT_REQUIRED)
    subscribed = threading.Event()
    refused = []

    def on_connect(client, _ud, _flags, rc):
        if rc == 0:
            client.subscribe([(f, 1) for f in args.filters])
        else:
            refused.append(rc)
            subscribed.set()

    c.on_connect = on_connect
    c.on_subscribe = lambda *_: subscribed.set()
    c.on_message = on_message
    connect_sync(c, args.port, subscribed, "mqtt_sniff")
    if refused:
        raise SystemExit(f"mqtt_sniff: connection refused: {mqtt.connack_string(refused[0])}")
    emit("READY")
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "rebirth" and len(parts) == 3:
                p = pb.Payload()
                p.timestamp = int(time.time() * 1000)
                m = p.metrics.add()
                m.name, m.timestamp, m.datatype, m.boolean_value = "Node Control/Rebirth", p.timestamp, DT.Boolean, True
                c.publish(f"spBv1.0/{parts[1]}/NCMD/{parts[2]}", p.SerializeToString(), qos=0).wait_for_publish(10)
                emit("OK rebirth")
            elif parts[0] == "state" and len(parts) == 3 and parts[2] in ("true", "false"):
                body = json.dumps({"online": parts[2] == "true", "timestamp": int(time.time() * 1000)})
                c.publish(f"spBv1.0/STATE/{parts[1]}", body, qos=1, retain=True).wait_for_publish(10)
                emit("OK state")
            else:
                emit(f"ERR unknown command {line.strip()}")
        except Exception as e:  # noqa: BLE001
            emit(f"ERR {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
