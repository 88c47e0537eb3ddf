#!/usr/bin/env python3
"""Soak benchmark of `sir run --role server` (issue 19; docs/reliability.md).

A server with `--concurrency C --serve 0` on loopback (TLS, the gru_motion plan) serves honest
clients, several at once, mixed with hostile connections of every kind: TLS clients with other
certificates, garbage, slow trickles, hang-ups during the handshake, and honest clients killed
at a random moment of their run. It runs for --minutes or until --sessions honest sessions
completed, then stops the server with SIGTERM and prints: honest sessions served and lost (every
honest result must be bit-equal to `sir eval --plan`), hostile connections by kind, server RSS
at start and end, and p50/p99 of the honest clients' wall time.

    cargo build --release
    python3 benches/soak.py --minutes 15 --sessions 1000

Only the standard library; `sir` from target/release.
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# Honest sessions before the RSS baseline (allocator arenas and caches fill on the first ones).
WARM = 100
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIR = os.path.join(ROOT, "target", "release", "sir")
EX = os.path.join(ROOT, "examples", "gru_motion")


def sh(*args, **kw):
    return subprocess.run([SIR, *args], capture_output=True, text=True, **kw)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--clients", type=int, default=4, help="honest clients at once")
    ap.add_argument("--seed", type=int, default=19)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="sir-soak-")
    plan = os.path.join(work, "gru.plan.json")
    r = sh("compile", f"{EX}/model.sir", "--weights", f"{EX}/weights.npz",
           "--calib", f"{EX}/calib.npy", "-o", plan)
    assert r.returncode == 0, r.stderr
    want = os.path.join(work, "want.npy")
    r = sh("eval", f"{EX}/model.sir", "--weights", f"{EX}/weights.npz", "--input",
           f"{EX}/inputs.npy", "--plan", plan, "--out", want)
    assert r.returncode == 0, r.stderr
    want_bytes = open(want, "rb").read()
    ids = {}
    for who in ["server", "client", "stranger"]:
        d = os.path.join(work, who)
        assert sh("keygen", "--out", d).returncode == 0
        ids[who] = d
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(
        [SIR, "run", "--role", "server", "--plan", plan, "--weights", f"{EX}/weights.npz",
         "--listen", "127.0.0.1:0", "--identity", ids["server"], "--peer-cert",
         f"{ids['client']}/cert.pem", "--serve", "0", "--concurrency", str(a.concurrency),
         "--timeout", "20", "--log-format", "json"],
        stderr=subprocess.PIPE, text=True)
    first = server.stderr.readline()
    addr = first.strip().rsplit(" ", 1)[-1]
    host, port = addr.rsplit(":", 1)
    threading.Thread(target=lambda: [log.write(l) for l in server.stderr], daemon=True).start()
    time.sleep(0.5)
    rss0 = rss_kib(server.pid)
    client_args = ["run", "--role", "client", "--plan", plan, "--input", f"{EX}/inputs.npy",
                   "--connect", addr, "--peer-cert", f"{ids['server']}/cert.pem"]
    lock = threading.Lock()
    stats = {"honest_ok": 0, "honest_lost": 0, "wrong": 0, "times": [], "hostile": {}}
    stop_at = time.time() + a.minutes * 60

    def hostile_once():
        kind = rnd.choice(["stranger", "garbage", "trickle", "hangup", "killed"])
        try:
            if kind == "stranger":
                sh(*client_args[:-2], "--peer-cert", f"{ids['server']}/cert.pem",
                   "--identity", ids["stranger"], timeout=30)
            elif kind == "garbage":
                with socket.create_connection((host, int(port))) as s:
                    s.sendall(os.urandom(rnd.randint(1, 4000)))
            elif kind == "trickle":
                with socket.create_connection((host, int(port))) as s:
                    s.sendall(b"\x16\x03\x01\x02\x00")
                    for _ in range(40):
                        s.sendall(b"A")
                        time.sleep(0.3)
            elif kind == "hangup":
                socket.create_connection((host, int(port))).close()
            else:
                p = subprocess.Popen([SIR, *client_args, "--identity", ids["client"]],
                                     stderr=subprocess.DEVNULL)
                time.sleep(rnd.uniform(0.0, 0.4))
                p.kill()
                p.wait()
        except OSError:
            pass
        with lock:
            stats["hostile"][kind] = stats["hostile"].get(kind, 0) + 1

    def hostile_loop():
        while time.time() < stop_at and stats["honest_ok"] < a.sessions:
            threading.Thread(target=hostile_once, daemon=True).start()
            time.sleep(rnd.uniform(0.05, 0.3))

    def honest_loop(i):
        out = os.path.join(work, f"out{i}.npy")
        while time.time() < stop_at:
            with lock:
                if stats["honest_ok"] >= a.sessions:
                    return
            if os.path.exists(out):
                os.remove(out)
            t = time.time()
            r = sh(*client_args, "--identity", ids["client"], "--out", out, timeout=120)
            dt = time.time() - t
            with lock:
                if r.returncode != 0:
                    stats["honest_lost"] += 1
                    print("honest client failed:", r.stderr.strip()[-300:], file=sys.stderr)
                elif open(out, "rb").read() != want_bytes:
                    stats["wrong"] += 1
                else:
                    stats["honest_ok"] += 1
                    stats["times"].append(dt)
                    if stats["honest_ok"] == WARM and "rss_warm" not in stats:
                        stats["rss_warm"] = rss_kib(server.pid)

    samples = []

    def rss_loop():
        while time.time() < stop_at and stats["honest_ok"] < a.sessions:
            samples.append((round(time.time() - t0), stats["honest_ok"], rss_kib(server.pid)))
            time.sleep(30)

    t0 = time.time()
    threads = [threading.Thread(target=hostile_loop), threading.Thread(target=rss_loop)]
    threads += [threading.Thread(target=honest_loop, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    time.sleep(13)  # let trickles reach the handshake deadline
    rss1 = rss_kib(server.pid)
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=120)
    time.sleep(0.2)
    log.close()
    events = [json.loads(l) for l in open(log_path) if l.startswith("{")]
    fields = [e.get("fields", {}) for e in events]
    dropped = sum(1 for f in fields if f.get("event") == "connection_dropped")
    completed = sum(1 for f in fields if f.get("outcome") == "completed")
    failed = sum(1 for f in fields if f.get("outcome") == "failed")
    times = sorted(stats["times"])
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))] if times else float("nan")
    print(json.dumps({
        "minutes": round(elapsed / 60, 2),
        "honest_sessions_ok": stats["honest_ok"],
        "honest_sessions_lost": stats["honest_lost"],
        "honest_results_wrong": stats["wrong"],
        "hostile_by_kind": stats["hostile"],
        "server_sessions_completed": completed,
        "server_sessions_failed": failed,
        "server_connections_dropped": dropped,
        "server_rss_kib_start": rss0,
        "server_rss_kib_after_warmup": stats.get("rss_warm", 0),
        "server_rss_kib_end": rss1,
        "rss_growth_after_warmup_pct": round(
            100 * (rss1 - stats.get("rss_warm", rss0)) / max(stats.get("rss_warm", rss0), 1), 1),
        "rss_kib_every_30s": samples,
        "client_wall_s_p50": round(q(0.5), 3),
        "client_wall_s_p99": round(q(0.99), 3),
        "server_exit": code,
    }, indent=1))
    ok = stats["honest_lost"] == 0 and stats["wrong"] == 0 and code == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
