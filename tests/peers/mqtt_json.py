"""A plain MQTT publisher (paho-mqtt 1.6) of JSON sensor messages, the peer of the `mqtt` JSON source's tests.

Usage: python mqtt_json.py BROKER_PORT [--user U --password P] [--cafile CA [--certfile CERT --keyfile KEY]]
                           [--client-id ID]

Connects to 127.0.0.1:BROKER_PORT (MQTT 3.1.1, clean session, TLS when --cafile is given), prints "READY"
on stdout (flushed) once the broker accepted the connection (a refused or failed connection: exit status 1
and the reason on stderr, e.g. "Connection Refused: not authorised."), then reads commands from stdin, one per line,
and answers each with exactly one stdout line (flushed): "OK" when done, "ERR <why>" otherwise. TOPIC has
no spaces; the rest of the line after it (one separating space removed) is the payload.

  pub TOPIC JSON       publishes the JSON text as-is (UTF-8), QoS 1, not retained; "OK" after the
                       broker's PUBACK. The text is not checked: send what the test wants.
  raw TOPIC TEXT       publishes TEXT as-is (UTF-8; e.g. malformed JSON), QoS 1; "OK" after the PUBACK.
  rawhex TOPIC HEX     publishes the bytes HEX encodes (e.g. invalid UTF-8), QoS 1; "OK" after the PUBACK.
  retain TOPIC JSON    like pub, retained.
  clear TOPIC          clears TOPIC's retained message (empty retained payload), QoS 1.
  qos0 TOPIC JSON      like pub with QoS 0; "OK" once written to the socket.
  burst N TOPIC JSON   publishes the JSON N times, QoS 1, where every "{i}" in it is replaced by the
                       message's index 0..N-1; "OK <N>" after the last PUBACK (for throughput tests).
It exits when stdin closes (without DISCONNECT).
"""

import argparse
import os
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt


def answer(line):
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass


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
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--cafile")
    ap.add_argument("--certfile")
    ap.add_argument("--keyfile")
    ap.add_argument("--client-id", default="")
    args = ap.parse_args()
    c = mqtt.Client(client_id=args.client_id, clean_session=True, protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    if args.user is not None:
        c.username_pw_set(args.user, args.password)
    if args.cafile:
        c.tls_set(ca_certs=args.cafile, certfile=args.certfile, keyfile=args.keyfile, cert_reqs=ssl.CERT_REQUIRED)
    connected = threading.Event()
    result = []

    def on_connect(_c, _ud, _flags, rc):
        result.append(rc)
        connected.set()

    c.on_connect = on_connect
    connect_sync(c, args.port, connected, "mqtt_json")
    if result[0] != 0:
        raise SystemExit(f"mqtt_json: connection refused: {mqtt.connack_string(result[0])}")
    answer("READY")

    def publish(topic, payload, qos=1, retain=False):
        info = c.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(mqtt.error_string(info.rc))
        return info

    def wait(info):
        info.wait_for_publish(10)
        if not info.is_published():
            raise RuntimeError("not acknowledged within 10 s")

    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        cmd, _, rest = line.partition(" ")
        topic, _, payload = rest.partition(" ")
        try:
            if not topic:
                answer(f"ERR usage: {cmd} TOPIC ...")
            elif cmd in ("pub", "raw"):
                wait(publish(topic, payload.encode("utf-8")))
                answer("OK")
            elif cmd == "rawhex":
                wait(publish(topic, bytes.fromhex(payload)))
                answer("OK")
            elif cmd == "retain":
                wait(publish(topic, payload.encode("utf-8"), retain=True))
                answer("OK")
            elif cmd == "clear":
                wait(publish(topic, b"", retain=True))
                answer("OK")
            elif cmd == "qos0":
                wait(publish(topic, payload.encode("utf-8"), qos=0))
                answer("OK")
            elif cmd == "burst":
                n = int(topic)
                topic, _, payload = payload.partition(" ")
                infos = [publish(topic, payload.replace("{i}", str(i)).encode("utf-8")) for i in range(n)]
                for info in infos:
                    wait(info)
                answer(f"OK {n}")
            else:
                answer(f"ERR unknown command {cmd}")
        except Exception as e:  # noqa: BLE001 - every command gets one answer line
            answer(f"ERR {type(e).__name__}: {e}")
    os._exit(0)


if __name__ == "__main__":
    main()
