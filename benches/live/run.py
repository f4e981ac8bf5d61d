#!/usr/bin/env python3
"""Benchmarks of the live daemon (README, "The live daemon"). Not part of CI.

    benches/live/run.py [--bytes 256M] [--appends 1000] [--idle 60]

1. Backfill: `lmtally report` over a generated log (best of 3, page cache warm), then
   `lmtally serve` with an empty data_dir over the same log, timed from its start to
   `caught_up` in /api/v1/status (store load, reading, commits included). The ratio is the
   daemon's share of `report`'s speed.
2. Freshness: with the daemon caught up, 1,000 times: append one line (a denial of a user never
   seen) to the log, then poll the report endpoint (one kept-alive loopback connection) until
   that day's Total Users counts it. Median, p99 and maximum of append-to-answer times.
3. Idle CPU: the daemon's user+system CPU time over 60 s with nothing written, from
   /proc/PID/stat, as a percentage of one core.

Everything runs on 127.0.0.1; every loop is bounded. Needs the release build (made here).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "lmtally")
GEN = os.path.join(ROOT, "target", "release", "examples", "genlog")
TOKEN = "bench-token"
DAY = "2031-01-01"  # the appended lines' date: after the generated log


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def start_serve(config):
    p = subprocess.Popen([BIN, "serve", "--config", config], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stderr.readline()
        if "listening on http://" in line:
            addr = line.split("listening on http://", 1)[1].strip()
            # Keep draining stderr so that the daemon never blocks on it.
            import threading

            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            host, port = addr.rsplit(":", 1)
            return p, host, int(port)
    p.kill()
    sys.exit("serve did not start")


class Api:
    def __init__(self, host, port):
        self.c = http.client.HTTPConnection(host, port, timeout=10)

    def get(self, path):
        self.c.request("GET", path, headers={"X-Auth-token": TOKEN})
        r = self.c.getresponse()
        return json.loads(r.read())


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", default="256M")
    ap.add_argument("--appends", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=60)
    a = ap.parse_args()

    sh("cargo", "build", "--release", "--quiet", "--bin", "lmtally", "--example", "genlog", cwd=ROOT)
    work = tempfile.mkdtemp(prefix="lmtally-live-")
    daemon = None
    try:
        log = os.path.join(work, "flexlm.log")
        sh(GEN, "--bytes", a.bytes, "--users", "5000", "--seed", "3", "--out", log)
        size = os.path.getsize(log)
        mib = size / 1048576
        with open(log, "rb") as f:
            while f.read(1 << 24):
                pass  # warm the page cache: measure parsing, not the disk

        # 1. Backfill.
        report = []
        for _ in range(3):
            t = time.perf_counter()
            sh(BIN, "report", "--server", f"b={log}", "--today", DAY, stdout=subprocess.DEVNULL)
            report.append(time.perf_counter() - t)
        config = os.path.join(work, "lmtally.toml")
        with open(config, "w") as f:
            f.write(
                f'listen = "127.0.0.1:0"\ndata_dir = "{work}/data"\ntimezone = "UTC"\n'
                f'tokens = ["{TOKEN}"]\n[[server]]\nname = "b"\nlogs = ["{log}"]\n'
            )
        t = time.perf_counter()
        daemon, host, port = start_serve(config)
        api = Api(host, port)
        while not api.get("/api/v1/status")["caught_up"]:
            time.sleep(0.01)
        backfill = time.perf_counter() - t
        store_mib = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(f"{work}/data") for f in fs) / 1048576
        r = min(report)
        print(f"backfill: {mib:.0f} MiB log; lmtally report {r:.2f} s ({mib / r:.0f} MiB/s); "
              f"lmtally serve to caught_up {backfill:.2f} s ({mib / backfill:.0f} MiB/s), "
              f"{100 * r / backfill:.0f}% of report's speed; store {store_mib:.0f} MiB")

        # 2. Freshness.
        path = f"/api/v1/report/users/realtime-count/json?sd={DAY}&ed={DAY}"
        with open(log, "ab") as f:
            f.write(b"12:00:00 (lmgrd) TIMESTAMP 1/1/2031\n")
        deadline = time.time() + 10
        while api.get("/api/v1/status")["files"][0]["bytes_read"] < os.path.getsize(log):
            if time.time() > deadline:
                sys.exit("the anchor line was not read within 10 s")
            time.sleep(0.005)
        base = api.get(path)["data"][0]["uct"]
        lat, lat_status, report_ms = [], [], []
        with open(log, "ab", buffering=0) as f:
            for i in range(a.appends):
                line = f'12:00:{i % 60:02d} (MLM) DENIED: "MATLAB" fresh{i}@host{i % 7}  (Licensed number of users already reached. (-4,342))\n'
                t = time.perf_counter()
                f.write(line.encode())
                end = f.tell()
                want = base + i + 1
                # Half of the appends are timed on the report endpoint, half on the status
                # endpoint (the reader's own latency, without the report's computation).
                while True:
                    if i % 2 == 0:
                        if api.get(path)["data"][0]["uct"] >= want:
                            break
                    elif api.get("/api/v1/status")["files"][0]["bytes_read"] >= end:
                        break
                    if time.perf_counter() - t > 5:
                        sys.exit(f"append {i} not seen within 5 s")
                    time.sleep(0.001)
                (lat if i % 2 == 0 else lat_status).append(time.perf_counter() - t)
                if i % 2 == 1:
                    t = time.perf_counter()
                    api.get(path)
                    report_ms.append((time.perf_counter() - t) * 1000)
        for name, xs in (("report endpoint", lat), ("status endpoint", lat_status)):
            ms = [x * 1000 for x in xs]
            print(f"freshness ({name}): {len(ms)} appends; median {pct(ms, 50):.1f} ms, "
                  f"p99 {pct(ms, 99):.1f} ms, max {max(ms):.1f} ms")
        print(f"report endpoint after a change (recomputation): median {pct(report_ms, 50):.1f} ms")

        # 3. Idle CPU.
        time.sleep(2)  # let the last commit happen
        hz = os.sysconf("SC_CLK_TCK")
        c0, t0 = cpu_ticks(daemon.pid), time.perf_counter()
        time.sleep(a.idle)
        c1, t1 = cpu_ticks(daemon.pid), time.perf_counter()
        print(f"idle: {c1 - c0} ticks of CPU in {t1 - t0:.0f} s = {100 * (c1 - c0) / hz / (t1 - t0):.2f}% of one core")
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
