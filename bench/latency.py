#!/usr/bin/env python3
"""Burst latency over a long path. Driven by bench/latency.sh (see there for
what is measured); `latency.py http PORT` is the small HTTP server it uses."""
import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from pool_cost import free_port, stop  # the same helpers, one copy

PASSWORD = "latency-password"
BODY = b"x" * 2048  # "a small file"


# ------------------------------------------------------------- HTTP server

async def http_conn(reader, writer):
    """HTTP/1.1 keep-alive: every request gets BODY; the client closes."""
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\nContent-Type: text/plain\r\n\r\n".encode()
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    writer.close()


async def http_main(port):
    srv = await asyncio.start_server(http_conn, "127.0.0.1", port)
    async with srv:
        await srv.serve_forever()


# ---------------------------------------------------------------- processes

def wait_port(port, proc, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"{what} exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"{what}: nothing listens on {port}")


def start_relay(relay, listen, target, rtt):
    """bench_relay, or a Python relay of the same semantics (a .py path)."""
    cmd = [sys.executable, relay] if relay.endswith(".py") else [relay]
    return subprocess.Popen(cmd + [str(listen), str(target), str(rtt)])


def start_anytls(binary, work, name, cfg, workers=None):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    log = open(os.path.join(work, name + ".log"), "w")
    extra = ["--workers", str(workers)] if workers else []
    return subprocess.Popen([binary, "run", "-c", path] + extra, stdout=subprocess.DEVNULL, stderr=log)


def idle_sessions(metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    n = 0.0
    for line in text.splitlines():
        if line.startswith('anytls_pool_sessions{') and 'state="idle"' in line:
            n += float(line.rpartition(" ")[2])
    return n


def server_config(work, port):
    return {
        "log": {"level": "warn"},
        "inbounds": [{"type": "anytls", "tag": "anytls-in", "listen": "127.0.0.1", "listen_port": port,
                      "users": [{"name": "lat", "password": PASSWORD}],
                      "tls": {"enabled": True, "certificate_path": os.path.join(work, "lat.crt"),
                              "key_path": os.path.join(work, "lat.key")}}],
        "outbounds": [{"type": "direct", "tag": "direct"}],
    }


def client_config(work, relay_port, proxy_port, metrics_port, ensure):
    return {
        "log": {"level": "warn"},
        "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": proxy_port}],
        "outbounds": [{"type": "anytls", "tag": "pool", "server": "127.0.0.1", "server_port": relay_port,
                       "password": PASSWORD, "ensure_idle_session": ensure,
                       "tls": {"enabled": True, "server_name": "localhost",
                               "certificate_path": os.path.join(work, "lat.crt")}}],
        "route": {"final": "pool"},
        "experimental": {"metrics": {"listen": f"127.0.0.1:{metrics_port}"}},
    }


# -------------------------------------------------------------- measurement

def run_bursts(burst_bin, args):
    """bench_burst's bursts: one list of TTFBs (seconds) per burst."""
    out = subprocess.run([burst_bin] + [str(x) for x in args], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    return [[int(x) / 1e6 for x in line.split()] for line in out.splitlines() if line.strip()]


def ms(x):
    return f"{x * 1000:.1f}"


def measure_client(a, name, binary, workers, rport, http_port, n, results):
    """A fresh client with ensure_idle_session n: one cold burst of n on the
    filled pool, then a.warm bursts on the same sessions."""
    proxy, mport = free_port(), free_port()
    c = start_anytls(binary, a.work, f"client-{name}-{n}", client_config(a.work, rport, proxy, mport, n), workers)
    try:
        wait_port(proxy, c, f"anytls client {name}")
        end = time.time() + 20
        while time.time() < end:
            try:
                if idle_sessions(mport) >= n:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            sys.exit(f"client {name}: the pool never reached {n} idle sessions")
        # The sessions' Settings -> ServerSettings exchange (one round trip)
        # is over: the pool is as warm as it gets.
        time.sleep(3 * a.rtt / 1000 + 0.2)
        # One cold burst, then warm ones 0.5 s apart (the streams' sessions
        # are back in the pool by then).
        runs = run_bursts(a.burst, ["socks", "--proxy", proxy, "--target", http_port, "--n", n,
                                    "--rounds", a.warm + 1, "--gap-ms", 500])
        for phase, t in zip(["cold"] + ["warm"] * a.warm, runs):
            results.setdefault((name, n, phase), []).append((statistics.median(t), max(t)))
    finally:
        stop(c)


def report(a, bursts, names, results):
    def row(key):
        v = results.get(key, [])
        if not v:
            return None
        return statistics.median(x[0] for x in v), statistics.median(x[1] for x in v), len(v)

    single = [x for n in bursts for x in results.get(("ideal", n, "single"), [])]
    ideal_med = statistics.median(x[0] for x in single)
    lines = []
    load = os.getloadavg()
    lines.append(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, kernel "
                 f"{platform.release()}, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end; "
                 f"RTT {a.rtt:g} ms through {os.path.basename(a.relay)}; {a.rounds} rounds (a fresh client per "
                 f"round, build and burst size, ensure_idle_session = burst size, one cold burst then {a.warm} "
                 f"warm ones, the builds interleaved). Per burst its median and its max TTFB; the table gives "
                 f"the median of those over the row's bursts.")
    lines.append("")
    lines.append(f"Ideal: one request/response on an established plain TCP connection through the same relay, "
                 f"median {ms(ideal_med)} ms (n={len(single)}, min {ms(min(x[0] for x in single))}, "
                 f"max {ms(max(x[0] for x in single))}). \"ideal, n at once\" rows: n such connections "
                 f"asking at the same time (what the relay itself adds to a burst).")
    lines.append("")
    lines.append("| path | burst | pool | TTFB median (ms) | TTFB max (ms) | median - ideal | max - ideal | bursts |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for n in bursts:
        keys = [(name, n, phase) for phase in ("cold", "warm") for name in names]
        if n > 1:
            keys.append(("ideal", n, "burst"))
        for key in keys:
            r = row(key)
            if not r:
                continue
            med, mx, count = r
            label = "ideal, n at once" if key[0] == "ideal" else key[0]
            pool = "" if key[0] == "ideal" else key[2]
            lines.append(f"| {label} | {n} | {pool} | {ms(med)} | {ms(mx)} | {(med - ideal_med) * 1000:+.1f} | "
                         f"{(mx - ideal_med) * 1000:+.1f} | {count} |")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "http":
        asyncio.run(http_main(int(sys.argv[2])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--anytls", action="append", required=True, metavar="NAME=BINARY",
                    help="a client/server build to measure (BINARY@W: the client runs with --workers W); "
                         "repeat to compare builds in one run")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--burst", required=True, help="the bench_burst binary")
    ap.add_argument("--relay", required=True, help="bench_relay, or /work/shared/tools/wan_relay.py")
    ap.add_argument("--rtt", type=float, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warm", type=int, default=3, help="warm bursts per client process")
    ap.add_argument("--bursts", default="1,6,20")
    a = ap.parse_args()
    builds = [b.split("=", 1) if "=" in b else (os.path.basename(b), b) for b in a.anytls]
    bursts = [int(x) for x in a.bursts.split(",")]
    procs = []
    stacks = {}
    http_port = free_port()
    try:
        http = subprocess.Popen([sys.executable, __file__, "http", str(http_port)])
        procs.append(http)
        wait_port(http_port, http, "http server")
        plain_relay = free_port()
        r = start_relay(a.relay, plain_relay, http_port, a.rtt)
        procs.append(r)
        wait_port(plain_relay, r, "relay")
        # One server and one relay in front of it per build: the server is
        # that build's too.
        for name, spec in builds:
            binary, _, workers = spec.partition("@")
            sport, rport = free_port(), free_port()
            s = start_anytls(binary, a.work, f"server-{name}", server_config(a.work, sport))
            procs.append(s)
            wait_port(sport, s, f"anytls server {name}")
            r = start_relay(a.relay, rport, sport, a.rtt)
            procs.append(r)
            wait_port(rport, r, "relay")
            stacks[name] = (binary, workers, rport)

        # results[(build, burst, phase)] = per burst (median, max); the
        # ideal is the build "ideal": 1 = one request alone, n = n at once.
        results = {}
        for rnd in range(a.rounds):
            for n in bursts:
                for name, (binary, workers, rport) in stacks.items():
                    measure_client(a, name, binary, workers, rport, http_port, n, results)
                for key, k in ((("ideal", n, "single"), 1), (("ideal", n, "burst"), n)):
                    if k == 1 and key[2] == "burst":
                        continue
                    runs = run_bursts(a.burst, ["plain", "--port", plain_relay, "--n", k, "--rounds", a.warm + 1,
                                                "--gap-ms", 200])
                    results.setdefault(key, []).extend((statistics.median(t), max(t)) for t in runs)
                print(f"[latency] round {rnd + 1}/{a.rounds} burst {n} done", file=sys.stderr)
    finally:
        for p in reversed(procs):
            stop(p)

    text = report(a, bursts, list(stacks), results)
    with open(a.out, "w") as f:
        f.write(text)
    raw = {f"{k[0]}/{k[1]}/{k[2]}": v for k, v in results.items()}
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
