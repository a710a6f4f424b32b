#!/usr/bin/env python3
"""What our loader does with each field sing-box 1.12 documents.

    scripts/field-table.py BINARY            writes docs/fields.md
    scripts/field-table.py BINARY --check    exits 1 on an "unknown" row or
                                             a row docs/fields.md gets wrong

Each row of docs/singbox-fields.json is a field (a JSON path pattern), the
JSON path our messages should name and the smallest config holding it. The
config is completed (outbounds "proxy" and "direct", a mixed inbound) and given to `BINARY check -c`. The row is then:
  works    exit 0 and no warning naming the path
  warning  exit 0 and a warning naming the path
  refused  exit 1 and an error naming the path, a field inside it, what
           holds it (`ntp`, `endpoints[0]`) or its entry's type or action
  UNKNOWN  "unknown field", or a message that does not name the path: the
           policy (each field works, warns or is refused) is broken for that field.
Rows in docs/fields-pending.txt (fields other branches are adding) may be
UNKNOWN; they are listed as "pending" and not compared.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = os.path.join(ROOT, "docs", "singbox-fields.json")
TABLE = os.path.join(ROOT, "docs", "fields.md")
PENDING = os.path.join(ROOT, "docs", "fields-pending.txt")

# Sections in the order of sing-box's top-level structure.
SECTIONS = ["log", "dns", "ntp", "certificate", "endpoints", "inbounds", "outbounds", "route", "services",
            "experimental"]

# "proxy" is a direct outbound: an anytls one would load the system's CA store
# (tens of ms) in every check; rows about anytls carry their own.
BASE_OUTBOUNDS = [{"type": "direct", "tag": "proxy"}, {"type": "direct", "tag": "direct"}]
BASE_INBOUND = {"type": "mixed", "tag": "base-in", "listen": "127.0.0.1", "listen_port": 10899}


def make_files(tmp):
    """The files rows point at: a certificate and key, a rule set, ECH stand-ins."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "30", "-subj", "/CN=example.com", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ruleset = os.path.join(tmp, "rules.json")
    with open(ruleset, "w") as f:
        json.dump({"version": 3, "rules": [{"domain_suffix": ["example.com"]}]}, f)
    # Not real ECH material: every ECH row is expected to stop at `ech` itself.
    ech_key = "-----BEGIN ECH KEYS-----\nAAAA\n-----END ECH KEYS-----"
    ech_config = "-----BEGIN ECH CONFIGS-----\nAAAA\n-----END ECH CONFIGS-----"
    for name, text in (("ech.key", ech_key), ("ech.config", ech_config)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text + "\n")
    os.makedirs(os.path.join(tmp, "ui"), exist_ok=True)
    return {"@CERT@": cert, "@KEY@": key, "@CERT_PEM@": open(cert).read(), "@KEY_PEM@": open(key).read(),
            "@RULESET@": ruleset, "@DIR@": tmp, "@ECH_KEY@": ech_key, "@ECH_CONFIG@": ech_config}


def substitute(value, files):
    if isinstance(value, str):
        for k, v in files.items():
            if k in value:
                value = value.replace(k, v)
        return value
    if isinstance(value, list):
        return [substitute(v, files) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, files) for k, v in value.items()}
    return value


def complete(config):
    """The row's config plus what makes any config valid here; the row's entries stay first (index 0)."""
    config = dict(config)
    tags = {o.get("tag") for o in config.get("outbounds", [])}
    config["outbounds"] = config.get("outbounds", []) + [o for o in BASE_OUTBOUNDS if o["tag"] not in tags]
    config["inbounds"] = config.get("inbounds", []) + [BASE_INBOUND]
    return config


def inside(path, outer):
    return path == outer or path.startswith(outer + ".") or path.startswith(outer + "[")


def names(message_path, at):
    """A message at `message_path` names the row at `at`: the same path, a field inside it (a warning or
    refusal of the part of it that matters), or for a refusal, what holds it (the section, the entry, or
    the entry's `type`: the whole protocol or server type is refused)."""
    return inside(message_path, at) or inside(at, message_path)


def refusal_names(message_path, at):
    """A refusal also names the row when it refuses the entry's `type` or `action` (the whole protocol,
    server type or rule action the field belongs to)."""
    if names(message_path, at):
        return True
    for key in (".type", ".action"):
        if message_path.endswith(key) and at.startswith(message_path[:-len(key)] + "."):
            return True
    return False


def short(text, limit=110):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def classify(binary, row, files, tmp, index):
    path = os.path.join(tmp, "row%d.json" % index)
    with open(path, "w") as f:
        json.dump(complete(substitute(row["config"], files)), f)
    try:
        p = subprocess.run([binary, "check", "-c", path], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "UNKNOWN", "check timed out"
    out = p.stdout + p.stderr
    at = row["at"]
    if p.returncode == 0:
        for m in re.finditer(r"^warning: (\S+?): (.*)$", out, re.M):
            if names(m.group(1), at):
                inner = m.group(1)[len(at):].lstrip(".") if inside(m.group(1), at) else ""
                return "warning", short((inner + ": " if inner else "") + m.group(2))
        return "works", ""
    m = re.search(r"^error: (\S+?): (.*)$", out, re.M)
    if not m:
        return "UNKNOWN", short("exit %d: %s" % (p.returncode, out.strip() or "no message"))
    where, what = m.group(1), m.group(2)
    # A field that only means something next to another one ("needs": its
    # path in the sample, e.g. auto_redirect for its marks) is refused when
    # that one is.
    needs = row.get("needs")
    if needs and where == needs and "unknown field" not in what:
        return "refused", short("needs %s: %s" % (needs.rsplit(".", 1)[-1], what))
    if "unknown field" in what or not refusal_names(where, at):
        return "UNKNOWN", short("%s: %s" % (where, what))
    inner = where[len(at):].lstrip(".") if inside(where, at) else "" if inside(at, where) else where.rsplit(".", 1)[-1]
    return "refused", short((inner + ": " if inner else "") + what)


def read_pending():
    patterns = []
    if os.path.exists(PENDING):
        for line in open(PENDING):
            line = line.split("#", 1)[0].strip()
            if line:
                patterns.append(line)
    return patterns


def is_pending(field, patterns):
    return any(field.startswith(p[:-1]) if p.endswith("*") else field == p for p in patterns)


def section(field):
    head = re.split(r"[.\[]", field, 1)[0]
    return head if head in SECTIONS else "other"


def render(rows, results, pending):
    counts = {}
    for row, (here, _) in zip(rows, results):
        if not is_pending(row["field"], pending):
            counts[here] = counts.get(here, 0) + 1
    lines = [
        "# sing-box 1.12 fields here",
        "",
        "Generated by `scripts/field-table.py BINARY` from docs/singbox-fields.json (one row per field sing-box",
        "1.12 documents, plus 1.11's geoip/geosite, with a sample config); the `smoke_fields` test fails when",
        "this file is stale. `inbounds[].tun.mtu` is the `mtu` of a `tun` inbound; `(dial fields)`, `(listen",
        "fields)`, `(tls inbound)` and `(tls outbound)` are the structures sing-box shares among types, tried on",
        "one type that has them; other protocols get one row each.",
        "A field sing-box accepts is never an \"unknown field\" here: `works` as in sing-box; `warning`: accepted,",
        "with a warning naming its path at start-up and in `anytls check` (the note); `refused`: the config is",
        "rejected with its path and the note as the reason (another protocol, or ignoring it would change what",
        "the config asks for). `pending`: being added.",
        "",
        "Totals: %d works, %d warning, %d refused%s." % (
            counts.get("works", 0), counts.get("warning", 0), counts.get("refused", 0),
            (", %d pending" % sum(1 for r in rows if is_pending(r["field"], pending))) if pending else ""),
    ]
    by_section = {}
    for row, result in zip(rows, results):
        by_section.setdefault(section(row["field"]), []).append((row, result))
    for name in SECTIONS + ["other"]:
        if name not in by_section:
            continue
        lines += ["", "## " + name, "", "| field | here | note |", "|---|---|---|"]
        for row, (here, note) in by_section[name]:
            if is_pending(row["field"], pending):
                here = "pending"
            lines.append("| `%s` | %s | %s |" % (row["field"], here, note.replace("|", "\\|")))
    return "\n".join(lines) + "\n"


def read_table():
    table = {}
    if os.path.exists(TABLE):
        for line in open(TABLE):
            m = re.match(r"^\| `(.+)` \| (\w+) \|", line)
            if m:
                table[m.group(1)] = m.group(2)
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--check", action="store_true", help="compare with docs/fields.md instead of writing it")
    # `check` mostly waits (about 0.1 s wall for 10 ms of CPU), so many run at once.
    ap.add_argument("--jobs", type=int, default=16)
    args = ap.parse_args()
    rows = json.load(open(FIELDS))
    pending = read_pending()
    with tempfile.TemporaryDirectory(prefix="field-table.") as tmp:
        files = make_files(tmp)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda ir: classify(args.binary, ir[1], files, tmp, ir[0]), enumerate(rows)))
    if not args.check:
        with open(TABLE, "w") as f:
            f.write(render(rows, results, pending))
        bad = [(r["field"], n) for r, (h, n) in zip(rows, results) if h == "UNKNOWN" and not is_pending(r["field"], pending)]
        for field, note in bad:
            print("UNKNOWN %s: %s" % (field, note))
        print("wrote %s (%d rows, %d unknown)" % (os.path.relpath(TABLE, ROOT), len(rows), len(bad)))
        return 0
    table = read_table()
    problems = []
    for row, (here, note) in zip(rows, results):
        field = row["field"]
        if is_pending(field, pending):
            continue
        if here == "UNKNOWN":
            problems.append("UNKNOWN %s: %s" % (field, note))
        elif table.get(field) != here:
            problems.append("STALE %s: docs/fields.md says %s, the binary %s (%s); rerun scripts/field-table.py" % (
                field, table.get(field, "nothing"), here, note or "no message"))
    for p in problems:
        print(p)
    print("%d rows, %d problems" % (len(rows), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
