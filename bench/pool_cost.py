#!/usr/bin/env python3
"""Runs each pool strategy against a loopback server and reads its cost from
/metrics. Driven by bench/pool_cost.sh (see there for what is measured)."""
import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

PASSWORD = "pool-cost-password"
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
# The seed's guesses (anytls-outbound.md, "Performance Metrics"), by file.
SEED = {
    "strategy-high-performance.json": ("~50 KB", "~10 KB/h"),
    "strategy-high-availability.json": ("~100 KB", "~20 KB/h"),
    "strategy-nat-traversal.json": ("~30 KB", "~30 KB/h"),
    "strategy-resource-efficient.json": ("~10 KB", "~8 KB/h"),
    "strategy-balanced.json": ("~50 KB", "~18 KB/h"),
}
DURATIONS = ("idle_session_check_interval", "idle_session_timeout", "heartbeat", "max_connection_lifetime",
             "connection_lifetime_jitter")


def parse_duration(s):
    if s in ("0", "", None):
        return 0.0
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|us|µs|μs|ms|s|m|h)", s):
        total += float(num) * UNITS[unit]
    return total


def go_duration(seconds):
    return "0s" if seconds <= 0 else f"{max(1, round(seconds * 1e6))}us"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, _, v = line.rpartition(" ")
        values[series] = float(v)
    return values


def wait_metrics(port, proc, log, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"anytls exited early, see {log}")
        try:
            return scrape(port)
        except OSError:
            time.sleep(0.05)
    sys.exit(f"no /metrics on port {port}, see {log}")


def start(anytls, work, name, cfg):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    log = os.path.join(work, name + ".log")
    proc = subprocess.Popen([anytls, "run", "-c", path], stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    return proc, log


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def socks_get(proxy_port, target_port):
    """One HTTP GET through the mixed inbound (SOCKS5 CONNECT 127.0.0.1:target)."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as s:
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            sys.exit("socks5: no method accepted")
        s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + target_port.to_bytes(2, "big"))
        if s.recv(10)[:2] != b"\x05\x00":
            sys.exit("socks5: connect failed")
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass


def total(values, name, **labels):
    """Sum of every series of `name` whose labels include all of `labels`."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    out = 0.0
    for series, v in values.items():
        base, _, rest = series.partition("{")
        if base == name and all(w in rest for w in want):
            out += v
    return out


def client_config(anytls, strategy, work, server_port, metrics_port, scale, replicas, empty=False):
    text = subprocess.run([anytls, "format", "-c", strategy], check=True, capture_output=True, text=True).stdout
    cfg = json.loads(text)
    cfg["log"] = {"level": "warn"}
    proxy_port = free_port()
    cfg["inbounds"] = [{"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": proxy_port}]
    out = next(o for o in cfg["outbounds"] if o.get("type") == "anytls")
    out.update(server="127.0.0.1", server_port=server_port, password=PASSWORD, tag="pool-1")
    out["tls"] = {"enabled": True, "server_name": "localhost", "certificate_path": os.path.join(work, "pool.crt")}
    for k in DURATIONS:
        if k in out:
            out[k] = go_duration(parse_duration(out[k]) / scale)
    if empty:
        for k in ("ensure_idle_session", "min_idle_session", "min_idle_session_for_age"):
            out[k] = 0
        out["idle_session_timeout"] = "100ms"
        out["idle_session_check_interval"] = "100ms"
    # The same outbound `replicas` times: the pool's cost stands out of the
    # process's own RSS noise (~100 KiB) and is divided back per pool.
    cfg["outbounds"] = [dict(out, tag=f"pool-{i + 1}") for i in range(replicas)]
    cfg["route"] = {"final": "pool-1"}
    cfg["experimental"] = {"metrics": {"listen": f"127.0.0.1:{metrics_port}"}}
    return cfg, int(out.get("ensure_idle_session", 0)), proxy_port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anytls", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", type=float, default=80)
    ap.add_argument("--window", type=float, default=45)
    ap.add_argument("--replicas", type=int, default=20)
    ap.add_argument("strategies", nargs="+")
    a = ap.parse_args()
    simulated = a.window * a.scale
    per_hour = 3600.0 / simulated

    server_port, server_metrics = free_port(), free_port()
    server_cfg = {
        "log": {"level": "warn"},
        "inbounds": [{"type": "anytls", "tag": "anytls-in", "listen": "127.0.0.1", "listen_port": server_port,
                      "users": [{"name": "pool", "password": PASSWORD}],
                      "tls": {"enabled": True, "certificate_path": os.path.join(a.work, "pool.crt"),
                              "key_path": os.path.join(a.work, "pool.key")}}],
        "outbounds": [{"type": "direct", "tag": "direct"}],
        "experimental": {"metrics": {"listen": f"127.0.0.1:{server_metrics}"}},
    }
    server, server_log = start(a.anytls, a.work, "server", server_cfg)
    rows = []
    try:
        wait_metrics(server_metrics, server, server_log)
        # Baseline: the same client with an empty pool.
        mport = free_port()
        K = a.replicas
        cfg, _, proxy = client_config(a.anytls, a.strategies[0], a.work, server_port, mport, a.scale, K, empty=True)
        base, base_log = start(a.anytls, a.work, "client-empty", cfg)
        wait_metrics(mport, base, base_log)
        # One request first, so that what any client builds on first use
        # (OpenSSL's tables, the TLS session cache) is in the baseline; its
        # session is closed 100 ms later.
        socks_get(proxy, server_metrics)
        end = time.time() + 5
        while time.time() < end:
            s = scrape(mport)
            if total(s, "anytls_pool_sessions_closed_total", reason="idle_timeout") >= 1:
                break
            time.sleep(0.05)
        time.sleep(1)
        samples = []
        for _ in range(10):
            time.sleep(0.3)
            samples.append(scrape(mport)["process_resident_memory_bytes"])
        base_rss = sorted(samples)[len(samples) // 2]
        stop(base)
        print(f"[pool_cost] baseline client RSS {base_rss / 1024:.0f} KiB", file=sys.stderr)

        for strategy in a.strategies:
            name = os.path.basename(strategy)
            mport = free_port()
            cfg, ensure, proxy = client_config(a.anytls, strategy, a.work, server_port, mport, a.scale, K)
            proc, log = start(a.anytls, a.work, "client-" + name.removesuffix(".json"), cfg)
            wait_metrics(mport, proc, log)
            end = time.time() + 10
            while total(scrape(mport), "anytls_pool_sessions", state="idle") < ensure * K and time.time() < end:
                time.sleep(0.05)
            socks_get(proxy, server_metrics)  # as the baseline did
            time.sleep(0.5)
            s0 = scrape(mport)
            t0 = time.time()
            rss, sessions = [], []
            while time.time() - t0 < a.window:
                time.sleep(min(1.0, max(0.0, a.window - (time.time() - t0))))
                s = scrape(mport)
                rss.append(s["process_resident_memory_bytes"])
                sessions.append((total(s, "anytls_pool_sessions", state="idle") +
                                 total(s, "anytls_pool_sessions", state="busy")) / K)
            s1 = scrape(mport)
            elapsed = time.time() - t0
            stop(proc)

            def delta(name, **labels):  # per pool
                return (total(s1, name, **labels) - total(s0, name, **labels)) / K

            # The one request's stream is not pool cost: only pool-1 carried it,
            # and it is in frames/wire of both s0 and s1 already (s0 was taken after it).
            wire = delta("anytls_wire_bytes_total")
            frames = delta("anytls_bytes_total")
            created = delta("anytls_pool_sessions_created_total")
            beats = delta("anytls_heartbeats_sent_total")
            closed = {r: delta("anytls_pool_sessions_closed_total", reason=r)
                      for r in ("idle_timeout", "age", "heartbeat_dead", "peer_closed", "error", "shutdown")}
            mean_rss = (sorted(rss)[len(rss) // 2] - base_rss) / K
            mean_sessions = sum(sessions) / len(sessions)
            f = 3600.0 / (elapsed * a.scale)
            rows.append(dict(name=name, ensure=ensure, sessions=mean_sessions, rss=mean_rss, wire=wire * f,
                             frames=frames * f, created=created * f, beats=beats * f,
                             closed={k: v * f for k, v in closed.items()}))
            print(f"[pool_cost] {name}: {rows[-1]}", file=sys.stderr)
    finally:
        stop(server)

    lines = []
    lines.append(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node() and 'loopback'}, "
                 f"{os.cpu_count()} cores, kernel {platform.release()}; each strategy {a.window:.0f} s at time "
                 f"scale 1/{a.scale:g} = {simulated / 60:.0f} simulated minutes from a warm pool, no user traffic; "
                 f"{K} copies of the outbound in one client, figures per pool; empty-pool client RSS "
                 f"{base_rss / 1024:.0f} KiB.")
    lines.append("")
    lines.append("| strategy | sessions (mean) | pool RSS | per session | wire bytes / h | of which frames | "
                 "new TLS conns / h | heartbeats / h | seed: memory, bandwidth |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        seed = SEED.get(r["name"], ("?", "?"))
        per = r["rss"] / r["sessions"] / 1024 if r["sessions"] > 0 else 0
        lines.append(f"| {r['name'].removeprefix('strategy-').removesuffix('.json')} | {r['sessions']:.1f} | "
                     f"{r['rss'] / 1024:.0f} KiB | {per:.1f} KiB | {r['wire'] / 1000:.1f} KB | "
                     f"{r['frames'] / 1000:.1f} KB | {r['created']:.0f} | {r['beats']:.0f} | "
                     f"{seed[0]}, {seed[1]} |")
    lines.append("")
    lines.append("Sessions closed per hour, by reason: " + "; ".join(
        r["name"].removeprefix("strategy-").removesuffix(".json") + " " +
        (", ".join(f"{k} {v:.0f}" for k, v in r["closed"].items() if v) or "none") for r in rows) + ".")
    table = "\n".join(lines) + "\n"
    print(table)
    with open(a.out, "w") as f:
        f.write(table)


if __name__ == "__main__":
    main()
