#!/usr/bin/env python3
"""Opens N idle TCP connections to HOST:PORT, waits until told to stop (stdin closes), closes.

Prints "open N" once all are connected, so the caller can measure the proxies' memory.
"""
import socket
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = []
for _ in range(count):
    s = socket.create_connection((host, port))
    conns.append(s)
time.sleep(1.0)  # let the proxies finish their upstream handshakes
print(f"open {len(conns)}", flush=True)
sys.stdin.read()
for s in conns:
    s.close()
