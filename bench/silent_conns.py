#!/usr/bin/env python3
"""RSS per silent connection on the anytls server: N TCP connections that
connect and send nothing (pre-TLS), then N that finish the TLS handshake and
send nothing more (post-TLS, before the auth preamble).
  usage: bench/silent_conns.py ANYTLS_BIN [N]   (loopback only)"""
import json, os, socket, ssl, subprocess, sys, tempfile, time

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def settled_rss(pid, still=5):
    last, same = -1, 0
    for _ in range(200):
        r = rss_kib(pid)
        same = same + 1 if r == last else 0
        last = r
        if same >= still:
            return r
        time.sleep(0.05)
    return last

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    work = tempfile.mkdtemp()
    subprocess.run([binary, "generate", "tls-keypair", "localhost", "--out-dir", work, "--file-name", "s"],
                   check=True, capture_output=True)
    port = free_port()
    cfg = {"log": {"level": "error"},
           "inbounds": [{"type": "anytls", "listen": "127.0.0.1", "listen_port": port,
                         "users": [{"name": "u", "password": "p"}], "handshake_timeout": "120s",
                         "tls": {"enabled": True, "certificate_path": f"{work}/s.crt", "key_path": f"{work}/s.key"}}],
           "outbounds": [{"type": "direct"}]}
    with open(f"{work}/server.json", "w") as f:
        json.dump(cfg, f)
    srv = subprocess.Popen([binary, "run", "-c", f"{work}/server.json"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close(); break
            except OSError:
                time.sleep(0.05)
        base = settled_rss(srv.pid)
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        pre = settled_rss(srv.pid)
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        tls = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
               for _ in range(n // 4)]
        post = settled_rss(srv.pid)
        print(f"connections: {n} pre-TLS, {n // 4} after the TLS handshake")
        print(f"server RSS: base {base} KiB, +pre-TLS {pre} KiB, +TLS {post} KiB")
        print(f"per silent pre-TLS connection: {(pre - base) / n:.2f} KiB")
        print(f"per silent connection after TLS (before the preamble): {(post - pre) / (n // 4):.2f} KiB")
        for s in silent + tls:
            s.close()
    finally:
        srv.terminate(); srv.wait()

main()
