"""A paced TCP relay: what a network link between the cache and its upstream does to a
download, on loopback (the upstream mode of bench/run.py).

    python bench/link.py LISTEN_PORT TARGET_PORT BYTES_PER_SECOND

Each connection is relayed to 127.0.0.1:TARGET_PORT; the answer flows back no faster than
the rate, paced every 64 KiB (smooth, unlike nginx's ``limit_rate``, which lets a whole
second's worth through at once: 50 MB at "125m" took 60 ms). Requests flow unpaced.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
STEP = 64 * 1024


def pipe(src: socket.socket, dst: socket.socket, rate: float | None) -> None:
    """Copy until either side closes (then both go); with a rate, byte n leaves no
    earlier than n / rate."""
    sent = 0
    start = time.monotonic()
    buf = bytearray(STEP)
    view = memoryview(buf)
    try:
        while n := src.recv_into(buf):
            if rate is not None:
                due = start + (sent + n) / rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            dst.sendall(view[:n])
            sent += n
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            if rate is not None:  # the answering direction closes (the other one ends)
                sock.close()


def serve(listen_port: int, target_port: int, rate: float) -> None:
    with socket.create_server((HOST, listen_port), backlog=128) as server:
        while True:
            client, _ = server.accept()
            try:
                upstream = socket.create_connection((HOST, target_port))
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, rate), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python bench/link.py LISTEN_PORT TARGET_PORT BYTES_PER_SECOND")
    serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
