#!/usr/bin/env python3
"""slowhttptest (slowloris, slow body, slow read) against gatehouse and a control.

Usage: slow_stage.py GATEHOUSE_URL CONTROL_URL OUTDIR   → OUTDIR/slow.md, exit 1 on failure.

The attacker connects from 127.0.0.1; the legitimate client whose service we measure connects
from 127.0.0.2 (still loopback), as a different user would. While each attack runs, a probe
loop sends GET /healthz every 0.25 s and a login (POST /v1/token) plus GET /v1/me every second;
every probe must succeed within PROBE_LIMIT seconds. The control (vulnerable.py
--single-thread, a single-threaded http.server) must be taken down by the same slowloris run,
proving the attack is real here. slowhttptest's CSV gives the connections it actually held.
"""
import csv
import http.client
import json
import os
import subprocess
import sys
import threading
import time

from attacklib import Results, Target, load_fixtures

PROBE_LIMIT = float(os.environ.get("GH_ATTACK_PROBE_LIMIT", "2.0"))
PROBE_SRC = os.environ.get("GH_ATTACK_PROBE_SOURCE", "127.0.0.2")
GH_NOFILE = os.environ.get("GH_ATTACK_GATEHOUSE_NOFILE", "?")


class Probes:
    """Background probes against one server from PROBE_SRC."""

    def __init__(self, host, port, login=None, token=None, healthz_path="/healthz"):
        self.host, self.port = host, port
        self.login, self.token, self.healthz_path = login, token, healthz_path
        self.results = []  # (t, kind, ok, latency, detail)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def one(self, kind, method, path, body=None, headers=None):
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=PROBE_LIMIT,
                                          source_address=(PROBE_SRC, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            dt = time.monotonic() - t0
            ok = resp.status == 200 and dt <= PROBE_LIMIT
            self.results.append((t0, kind, ok, dt, str(resp.status)))
        except OSError as e:
            self.results.append((t0, kind, False, time.monotonic() - t0, type(e).__name__))
        finally:
            conn.close()

    def run(self):
        n = 0
        while not self.stop.is_set():
            self.one("healthz", "GET", self.healthz_path)
            if self.login and n % 4 == 0:
                self.one("login", "POST", "/v1/token", json.dumps(self.login),
                         {"Content-Type": "application/json"})
            if self.token and n % 4 == 2:
                self.one("me", "GET", "/v1/me", headers={"Authorization": "Bearer " + self.token})
            n += 1
            self.stop.wait(0.25)

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(PROBE_LIMIT + 5)
        return self.results


def read_csv(path):
    rows = []
    try:
        with open(path) as f:
            for row in csv.DictReader(f):
                rows.append({k.strip(): int(v) for k, v in row.items() if v and v.strip().isdigit()})
    except OSError:
        pass
    return rows


def attack(outdir, name, args, url, seconds):
    prefix = os.path.join(outdir, "slow", name)
    cmd = ["slowhttptest", *args, "-l", str(seconds), "-u", url, "-p", "2", "-g", "-o", prefix]
    with open(prefix + ".txt", "wb") as out:
        out.write((" ".join(cmd) + "\n").encode())
        out.flush()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return p, prefix


def summarise(results, since, until):
    window = [r for r in results if since <= r[0] <= until]
    bad = [r for r in window if not r[2]]
    worst = max((r[3] for r in window), default=0.0)
    kinds = sorted({r[1] for r in window})
    return window, bad, worst, kinds


def run_attack(r, outdir, t, fx, name, label, args, path, conns, seconds, expect_down=False,
               control=None, known_limit=False):
    target = control or t
    url = f"http://{target.host}:{target.port}{path}"
    login = None if control else {"email": fx["probe"]["email"], "password": fx["password"]}
    token = None if control else fx["probe"]["access_token"]
    probes = Probes(target.host, target.port, login, token).start()
    time.sleep(0.5)
    p, prefix = attack(outdir, name, args + ["-c", str(conns)], url, seconds)
    ramp = conns / 200 + 1  # -r 200 connections/s
    t0 = time.monotonic()
    try:
        p.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    t1 = time.monotonic()
    time.sleep(0.5)
    results = probes.finish()
    with open(prefix + "-probes.tsv", "w") as f:
        f.write("t_since_attack_start\tkind\tok\tlatency_s\tdetail\n")
        for ts, kind, ok_, lat, det in results:
            f.write(f"{ts - t0:.2f}\t{kind}\t{int(ok_)}\t{lat:.3f}\t{det}\n")
    r.note(f"{label}: `{' '.join(p.args)}`")
    rows = read_csv(prefix + ".csv")
    held = max((row.get("Connected", 0) for row in rows), default=0)
    unavailable = sum(1 for row in rows if row.get("Service Available", 1) == 0)
    # Measure from the moment the attacker holds its connections to the end of the attack.
    window, bad, worst, kinds = summarise(results, t0 + ramp, t1)
    detail = (f"held {held}/{conns} connections; {len(window)} probes ({', '.join(kinds)}) during "
              f"the attack, {len(bad)} failed or > {PROBE_LIMIT:g} s, worst {worst:.2f} s; "
              f"slowhttptest's own probe: unavailable {unavailable} of {len(rows)} s")
    if bad:
        detail += "; first failure: " + f"{bad[0][1]} {bad[0][4]} after {bad[0][3]:.2f} s"
    # gatehouse caps the connections one address may hold (GATEHOUSE_MAX_CONNECTIONS_PER_IP,
    # from its "connection_limits" log line): an attack held at that cap while every probe from
    # another address is served is the defence working, not an ineffective tool.
    cap = per_ip_cap(outdir)
    capped = not expect_down and cap > 0 and conns > cap and cap - 2 <= held <= cap + 2
    enough = held >= 0.9 * conns or capped
    if capped:
        detail = f"held at the per-address cap ({cap}); " + detail
    if expect_down:
        # A single-threaded server cannot even accept most of the attacker's connections
        # (its listen backlog is full), so `held` is not required here: the probes failing is
        # the proof, with slowhttptest's own probe agreeing.
        ok = len(window) > 0 and len(bad) >= 0.5 * len(window) and unavailable > 0
        r.add(f"{label}: control taken down", "most probes fail", detail, ok)
    else:
        ok = enough and not bad and len(window) >= 5
        exp = f"every probe 200 within {PROBE_LIMIT:g} s"
        if not enough:
            detail = "ATTACK NOT EFFECTIVE (raise the NOFILE hard limit?): " + detail
        r.add(f"{label}", exp, detail, ok)
        after = Target(f"http://{t.host}:{t.port}")
        deadline = time.monotonic() + 10
        while not after.healthy() and time.monotonic() < deadline:
            time.sleep(0.2)
        r.add(f"after {label}: answers /healthz", "200 within 10 s",
              after.healthy(), after.healthy())
    return ok


def per_ip_cap(outdir):
    """The per-address connection cap gatehouse logged at start (0: none or unknown)."""
    try:
        with open(os.path.join(outdir, "server.log"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if '"connection_limits"' in line:
                    return int(json.loads(line).get("per_ip_connections", 0))
    except (OSError, ValueError):
        pass
    return 0


def main():
    base, control_base, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    t = Target(base)
    ctl = Target(control_base)
    fx = load_fixtures(outdir)
    os.makedirs(os.path.join(outdir, "slow"), exist_ok=True)
    conns = int(os.environ.get("GH_ATTACK_SLOW_CONNECTIONS", "800"))
    over = int(os.environ.get("GH_ATTACK_SLOW_CONNECTIONS_OVER", "1500"))
    secs = int(os.environ.get("GH_ATTACK_SLOW_SECONDS", "20"))
    r = Results(
        "Slow HTTP (slowhttptest)",
        f"Attacker on 127.0.0.1, measured client on {PROBE_SRC}. gatehouse runs with a "
        f"soft open-files limit of {GH_NOFILE} (the default soft RLIMIT_NOFILE of a shell or a "
        "systemd service). Probes: GET /healthz every 0.25 s, a login and GET /v1/me every "
        f"second, each must answer 200 within {PROBE_LIMIT:g} s while the attacker holds its "
        "connections. `held` is slowhttptest's own count of open connections (its CSV).",
        key="slow")
    common = ["-r", "200", "-i", "10"]
    # 1. The control: a single-threaded server is taken down by a tiny slowloris.
    run_attack(r, outdir, t, fx, "control-slowloris", "slowloris vs control (50 connections)",
               ["-H", *common], "/healthz", 50, 8, expect_down=True, control=ctl)
    # 2. gatehouse: slowloris, slow body, slow read within its file-descriptor budget.
    run_attack(r, outdir, t, fx, "gatehouse-slowloris",
               f"slowloris ({conns} connections, {secs} s)", ["-H", *common], "/v1/token",
               conns, secs)
    run_attack(r, outdir, t, fx, "gatehouse-slowbody",
               f"slow body / R-U-Dead-Yet ({conns} connections, Content-Length 8192, {secs} s)",
               ["-B", *common, "-s", "8192", "-t", "POST"], "/v1/token", conns, secs)
    run_attack(r, outdir, t, fx, "gatehouse-slowread",
               f"slow read ({conns // 2} connections, {secs - 5} s)",
               ["-X", "-r", "200", "-w", "1", "-y", "4", "-n", "3", "-z", "1", "-k", "8"],
               "/.well-known/jwks.json", conns // 2, secs - 5)
    # 3. More connections than gatehouse has file descriptors, from one address.
    run_attack(r, outdir, t, fx, "gatehouse-slowloris-over-nofile",
               f"slowloris over the open-files limit ({over} connections from one address, "
               f"soft limit {GH_NOFILE})", ["-H", *common], "/v1/token", over, 20)
    return r.write(outdir, "slow")


if __name__ == "__main__":
    sys.exit(main())
