#!/usr/bin/env python3
"""Start-up to READY=1 of `lmtally serve` (release build), as systemd sees it.

Binds a Unix datagram socket, starts the daemon with NOTIFY_SOCKET pointing at it, and times
from just before the spawn to the arrival of READY=1. The configuration has one license server
whose log is empty, and an empty data_dir (nothing stored yet). Runs N times (default 30) on an
ephemeral loopback port and prints the median, the 90th percentile and the maximum.

    cargo build --release && python3 benches/service/ready.py [N]
"""
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "lmtally")


def once(tmp, i):
    data = os.path.join(tmp, f"data{i}")
    log = os.path.join(tmp, "lmgrd.log")
    open(log, "a").close()
    conf = os.path.join(tmp, f"c{i}.toml")
    with open(conf, "w") as f:
        f.write(f'listen = "127.0.0.1:0"\ndata_dir = "{data}"\ntokens = ["bench"]\n'
                f'[[server]]\nname = "flexlm01"\nlogs = ["{log}"]\n')
    path = os.path.join(tmp, f"n{i}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path, RUST_LOG="warn")
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "serve", "--config", conf], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg.splitlines():
                return time.perf_counter() - t0
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        sock.close()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN}: build it first (cargo build --release)")
    with tempfile.TemporaryDirectory() as tmp:
        ms = sorted(once(tmp, i) * 1e3 for i in range(n))
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    print(f"start-up to READY=1 over {n} runs: median {statistics.median(ms):.1f} ms, "
          f"p90 {p90:.1f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main()
