#!/usr/bin/env python3
"""Writes the seed inputs of the `relay` target into seeds/ (the format is described in
ws-bridge/src/fuzzing.rs). Run from ws-bridge/fuzz; it overwrites only the files it names.
The MQTT packets are the protocol fuzzer's seeds, without their first (selector) byte."""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PACKETS = os.path.join(HERE, "..", "..", "protocol", "fuzz", "seeds")


def packet(name):
    with open(os.path.join(PACKETS, name), "rb") as f:
        return f.read()[1:]


def step(kind, payload=b""):
    return bytes([kind]) + struct.pack("<H", len(payload)) + payload


def binary(payload):  # one masked binary message
    return step(0x02, payload)


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


# Knobs, byte 0.
TRANSPARENT, ACL, ONE_PER_MESSAGE, SMALL_COALESCE = 0x01, 0x02, 0x04, 0x08
READS_LATE, SHUTDOWN, SMALL_PIPE, NO_CONNACK = 0x10, 0x20, 0x40, 0x80
# Byte 1: the broker, and rate limits.
DISCARD, ECHO, STALL, CLOSE, RATE_LIMITS, SMALL_BUDGET = 0, 1, 2, 3, 0x04, 0x08
# Steps from 0x80.
RAW, BROKER, PAUSE = 0x80, 0x81, 0x82
CLOSE_FRAME = step(0x08, b"\x03\xe8")  # close 1000
PING_FRAME = step(0x09, b"hi")

C311 = packet("connect_v311")
C5 = packet("connect_v5")
P311 = packet("publish_v311")
PINGREQ = b"\xc0\x00"
DISCONNECT311 = b"\xe0\x00"

# A 3.1.1 CONNECT with user name "u" and client id "c", for the ACL's %u and %c.
CONNECT_USER = b"\x00\x04MQTT\x04\x82\x00\x3c" + utf8("c") + utf8("u")
CONNECT_USER = bytes([0x10, len(CONNECT_USER)]) + CONNECT_USER


def remaining(n):  # MQTT variable byte integer
    out = b""
    while True:
        n, digit = n >> 7, n & 0x7F
        out += bytes([digit | (0x80 if n else 0)])
        if not n:
            return out


def publish311(topic, payload, qos=0, packet_id=1):
    body = utf8(topic) + (struct.pack(">H", packet_id) if qos else b"") + payload
    return bytes([0x30 | qos << 1]) + remaining(len(body)) + body


def subscribe311(packet_id, filters):
    body = struct.pack(">H", packet_id) + b"".join(utf8(f) + b"\x01" for f in filters)
    return b"\x82" + remaining(len(body)) + body


SEEDS = {
    "session_v311_echo": bytes([0, ECHO])
    + binary(C311)
    + step(PAUSE)
    + binary(P311)
    + binary(subscribe311(1, ["a/#"]))
    + binary(PINGREQ)
    + step(PAUSE)
    + binary(DISCONNECT311)
    + CLOSE_FRAME,
    "session_v5_discard": bytes([0, DISCARD])
    + binary(C5)
    + binary(packet("publish_v5_props"))
    + binary(packet("subscribe_v5"))
    + binary(packet("publish_v5_alias"))
    + binary(packet("disconnect_v5"))
    + CLOSE_FRAME,
    # CONNECT in one message of two frames with a ping between, then a PUBLISH in three
    # messages, as MQTT.js in node sends it.
    "fragmented": bytes([0, ECHO])
    + step(0x12, C311[:7])
    + PING_FRAME
    + step(0x00, C311[7:])
    + binary(P311[:1])
    + binary(P311[1:2])
    + binary(P311[2:])
    + step(PAUSE),
    "acl_v311": bytes([ACL, ECHO])
    + binary(CONNECT_USER)
    + binary(publish311("all/x", b"ok"))
    + binary(publish311("user/u/t", b"ok", qos=1, packet_id=2))
    + binary(publish311("client/c", b"ok", qos=2, packet_id=3))
    + binary(publish311("denied", b"no", qos=1, packet_id=4))
    + binary(subscribe311(5, ["sub/a", "nope/#", "all/+"]))
    + binary(subscribe311(6, ["nope"]))
    # The broker's SUBACK for id 5 with the two granted codes.
    + step(BROKER, b"\x90\x04\x00\x05\x01\x01")
    + step(PAUSE),
    "transparent": bytes([TRANSPARENT, ECHO])
    + binary(b"not MQTT at all")
    + binary(C311)
    + step(BROKER, b"\xde\xad\xbe\xef")
    + step(PAUSE),
    "text_message": bytes([0, DISCARD]) + binary(C311) + step(0x01, b"hello"),
    "unmasked_frame": bytes([0, DISCARD]) + step(0x22, C311),
    "raw_garbage": bytes([0, DISCARD]) + step(RAW, b"\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00"),
    "too_big": bytes([0, DISCARD]) + binary(C311) + binary(publish311("t", b"x" * 2100)),
    "shutdown_stalled_broker": bytes([SHUTDOWN, STALL])
    + binary(C311)
    + binary(publish311("t", b"x" * 1500)),
    "broker_garbage": bytes([0, DISCARD]) + binary(C5) + step(BROKER, b"\xff\xff\xff\xff"),
    "broker_closes": bytes([0, CLOSE]) + binary(C311) + step(PAUSE) + binary(P311),
    "coalesced_down": bytes([SMALL_COALESCE, DISCARD])
    + binary(C311)
    + step(BROKER, b"".join(publish311("t", bytes([i]) * 30) for i in range(6)))
    + step(PAUSE),
    "one_per_message_down": bytes([ONE_PER_MESSAGE, DISCARD])
    + binary(C311)
    + step(BROKER, P311 * 3)
    + step(PAUSE),
    "late_reader_small_pipe": bytes([READS_LATE | SMALL_PIPE | NO_CONNACK, ECHO])
    + binary(C311)
    + b"".join(binary(publish311("t", b"y" * 200)) for _ in range(4)),
    # 150 packets at 100 a second: the relay waits out the rest of a second.
    "rate_limited": bytes([0, ECHO | RATE_LIMITS])
    + binary(C311)
    + b"".join(binary(publish311("t", bytes([i]))) for i in range(150)),
    # Most of a 600-byte PUBLISH, held in the decoder past the 512-byte budget.
    "over_budget": bytes([0, DISCARD | SMALL_BUDGET])
    + binary(C311)
    + binary(publish311("t", b"z" * 600)[:550])
    + step(PAUSE),
    "no_connect": bytes([0, DISCARD]) + binary(PINGREQ),
    "connect_in_pieces": bytes([0, DISCARD])
    + b"".join(binary(C311[i : i + 1]) for i in range(len(C311)))
    + binary(P311 + P311[:3])
    + binary(P311[3:]),
}

for name, data in SEEDS.items():
    with open(os.path.join(HERE, "seeds", name), "wb") as f:
        f.write(data)
print(f"wrote {len(SEEDS)} seeds")
