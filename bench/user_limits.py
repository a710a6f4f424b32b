#!/usr/bin/env python3
"""Per-user limits under a descriptor limit: the server runs with
RLIMIT_NOFILE = 256 (prlimit); user alice opens 150 streams at once to a
destination that holds them open; then bob makes one request. Prints what
alice got, how the server refused the rest, and bob's result and time.
  usage: bench/user_limits.py ANYTLS_BIN   (loopback only)"""
import json, os, socket, struct, subprocess, sys, tempfile, threading, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")

def socks_connect(mixed, port, timeout):
    s = socket.create_connection(("127.0.0.1", mixed), timeout=timeout)
    s.sendall(b"\x05\x01\x00"); s.recv(2)
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", port))
    rep = s.recv(10)
    return s, rep

def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp()
    subprocess.run([binary, "generate", "tls-keypair", "localhost", "--out-dir", work, "--file-name", "s"],
                   check=True, capture_output=True)
    # A destination that answers "hi\n" and then keeps the connection open.
    dest = socket.socket(); dest.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    dest.bind(("127.0.0.1", 0)); dest.listen(1024); dport = dest.getsockname()[1]
    held = []
    def serve():
        while True:
            try:
                c, _ = dest.accept()
            except OSError:
                return
            c.sendall(b"hi\n"); held.append(c)
    threading.Thread(target=serve, daemon=True).start()

    sport = free_port(); amixed = free_port(); bmixed = free_port()
    server = {"log": {"level": "warn"},
              "inbounds": [{"type": "anytls", "listen": "127.0.0.1", "listen_port": sport,
                            "users": [{"name": "alice", "password": "a"}, {"name": "bob", "password": "b"}],
                            "tls": {"enabled": True, "certificate_path": f"{work}/s.crt", "key_path": f"{work}/s.key"}}],
              "outbounds": [{"type": "direct"}]}
    def client(mixed, pw):
        return {"log": {"level": "error"},
                "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": mixed}],
                "outbounds": [{"type": "anytls", "server": "127.0.0.1", "server_port": sport, "password": pw,
                               "tls": {"enabled": True, "server_name": "localhost", "insecure": True}}]}
    for name, cfg in (("server", server), ("alice", client(amixed, "a")), ("bob", client(bmixed, "b"))):
        with open(f"{work}/{name}.json", "w") as f:
            json.dump(cfg, f)
    log = open(f"{work}/server.log", "w")
    procs = [subprocess.Popen(["prlimit", "--nofile=256:256", binary, "run", "-c", f"{work}/server.json"],
                              stdout=log, stderr=log)]
    for name in ("alice", "bob"):
        procs.append(subprocess.Popen([binary, "run", "-c", f"{work}/{name}.json"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for p in (sport, amixed, bmixed):
            wait_port(p)
        results = {"served": 0, "failed": 0}
        socks = []
        lock = threading.Lock()
        def one():
            try:
                s, rep = socks_connect(amixed, dport, 10)
                data = s.recv(3)
                with lock:
                    if data == b"hi\n":
                        results["served"] += 1; socks.append(s)
                    else:
                        results["failed"] += 1; s.close()
            except OSError:
                with lock:
                    results["failed"] += 1
        threads = [threading.Thread(target=one) for _ in range(150)]
        for t in threads: t.start()
        for t in threads: t.join()
        fds = len(os.listdir(f"/proc/{procs[0].pid}/fd")) if os.path.exists(f"/proc/{procs[0].pid}/fd") else -1
        t0 = time.monotonic()
        s, rep = socks_connect(bmixed, dport, 10)
        data = s.recv(3)
        bob_ms = (time.monotonic() - t0) * 1000
        s.close()
        print(f"server RLIMIT_NOFILE 256: max_sessions_per_user = 32, max_streams_per_user = 64 (defaults)")
        print(f"alice: 150 concurrent streams -> {results['served']} served, {results['failed']} refused")
        print(f"server descriptors in use while alice holds hers: {fds} (prlimit's child)")
        bob = "served" if data == b"hi\n" else "FAILED"
        print(f"bob: {bob} in {bob_ms:.1f} ms")
        for x in socks: x.close()
    finally:
        for p in procs:
            p.terminate(); p.wait()
        dest.close()
    log.close()
    with open(f"{work}/server.log") as f:
        warn = [l.strip() for l in f if "limit" in l or "descriptors" in l]
    print("server warnings (first 3):"); [print("  " + w[:200]) for w in warn[:3]]

main()
