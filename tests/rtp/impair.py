#!/usr/bin/env python3
"""A UDP relay that impairs an RTP stream the way a real network does, and adds what a hostile
or careless peer sends, deterministically: in every 60 packets, drops the 13th, sends the 14th
(held back by the receiver, behind the gap) and the 27th twice, sends the 41st after the 42nd,
and after the 50th sends three malformed datagrams (too short, an extension longer than the
packet, padding longer than the packet) and two foreign packets (a DTMF event, another source).

    impair.py TARGET_PORT

Prints "relaying on PORT" once bound, forwards to 127.0.0.1:TARGET_PORT, and ends after 1.5 s
without a packet, printing what it did: "relay: N forwarded, D dropped, U duplicated, S swapped,
M malformed, F foreign".
"""
import socket
import struct
import sys

target = ("127.0.0.1", int(sys.argv[1]))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
print("relaying on %d" % sock.getsockname()[1], flush=True)

forwarded = dropped = duplicated = swapped = malformed = foreign = 0
held = None
k = 0
sock.settimeout(30)  # until the sender starts
while True:
    try:
        packet = sock.recv(65536)
    except socket.timeout:
        break
    sock.settimeout(1.5)
    position = k % 60
    k += 1
    if position == 13:
        dropped += 1
        continue
    if position == 41:
        held = packet
        continue
    sock.sendto(packet, target)
    forwarded += 1
    if position in (14, 27):
        sock.sendto(packet, target)
        duplicated += 1
    if held is not None:
        sock.sendto(held, target)
        forwarded += 1
        swapped += 1
        held = None
    if position == 50:
        seq, ts, ssrc = struct.unpack("!HII", packet[2:12])
        header = bytes([0x80, packet[1] & 0x7F]) + packet[2:12]
        for bad in (packet[:8],
                    bytes([0x90]) + header[1:] + struct.pack("!HH", 0xBEDE, 0xFFFF) + b"\0" * 8,
                    bytes([0xA0]) + header[1:] + b"\0" * 8 + bytes([200])):
            sock.sendto(bad, target)
            malformed += 1
        dtmf = bytes([0x80, 101]) + struct.pack("!HII", seq, ts, ssrc) + b"\x05\x0a\x00\xa0"
        stranger = bytes([0x80, packet[1] & 0x7F]) + struct.pack("!HII", seq, ts, ssrc ^ 1) + packet[12:]
        for odd in (dtmf, stranger):
            sock.sendto(odd, target)
            foreign += 1
if held is not None:
    sock.sendto(held, target)
    forwarded += 1
print("relay: %d forwarded, %d dropped, %d duplicated, %d swapped, %d malformed, %d foreign"
      % (forwarded, dropped, duplicated, swapped, malformed, foreign), flush=True)
