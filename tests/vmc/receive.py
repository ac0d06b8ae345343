"""An OSC receiver that is not facecast's: python-osc decodes every packet that reaches a UDP port.

Usage: receive.py PORT SECONDS OUT.json
Listens for SECONDS (or until packets stop for 2 s after the first), then writes one JSON object:
the arrival time (seconds from the first packet) of every /VMC/Ext/Blend/Apply, and each frame's
blendshape values by name.
"""
import json
import socket
import sys
import time

from pythonosc.osc_packet import OscPacket

port, seconds, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
sock.settimeout(0.2)
start = time.monotonic()
first = last = None
frames, pending = [], {}
while time.monotonic() - start < seconds:
    try:
        data, _ = sock.recvfrom(65536)
    except socket.timeout:
        if last is not None and time.monotonic() - last > 2.0:
            break
        continue
    now = time.monotonic()
    first = first if first is not None else now
    last = now
    for timed in OscPacket(data).messages:
        m = timed.message
        if m.address == "/VMC/Ext/Blend/Val":
            pending[m.params[0]] = m.params[1]
        elif m.address == "/VMC/Ext/Blend/Apply":
            frames.append({"t": now - first, "values": pending})
            pending = {}
        elif m.address == "/VMC/Ext/Bone/Pos" and frames:
            frames[-1]["head"] = m.params
json.dump({"frames": frames}, open(out, "w"))
