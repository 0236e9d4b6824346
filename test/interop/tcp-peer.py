#!/usr/bin/env python3
"""A kernel TCP server for the interop tests: accepts one connection, hashes what it receives and
sends N random bytes back, in the order MODE says, then prints one JSON line with both SHA-256s.

usage: tcp-peer.py ADDR PORT MODE N
  MODE concurrent  send while receiving; each side half-closes when its data is out
       after-eof   receive until the peer's FIN, then send (we are in CLOSE-WAIT, RFC 9293 §3.6)
       first       send and half-close first, then receive until the peer's FIN
Prints "listening" once bound, so the caller knows when to connect.
"""
import hashlib
import json
import os
import socket
import sys
import threading

addr, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(1)
srv.settimeout(30)
print("listening", flush=True)
conn, _ = srv.accept()
conn.settimeout(60)

data = os.urandom(n)
got = {"sha": "", "len": 0}


def send():
    conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def receive():
    h = hashlib.sha256()
    total = 0
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        h.update(chunk)
        total += len(chunk)
    got["sha"] = h.hexdigest()
    got["len"] = total


if mode == "concurrent":
    t = threading.Thread(target=send)
    t.start()
    receive()
    t.join()
elif mode == "after-eof":
    receive()
    send()
elif mode == "first":
    send()
    receive()
else:
    sys.exit(f"unknown mode {mode}")
conn.close()
print(
    json.dumps(
        {
            "receivedSha": got["sha"],
            "receivedLen": got["len"],
            "sentSha": hashlib.sha256(data).hexdigest(),
            "sentLen": n,
        }
    ),
    flush=True,
)
