#!/usr/bin/env bash
# Builds the Debian package from an existing build directory (cpack -G DEB),
# unpacks it into a scratch root with dpkg -x, checks its contents and runs
# the packaged binary, and verifies the systemd units with
# `systemd-analyze verify` where that is available.
#   usage: package-check.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: package-check.sh BUILD_DIR}" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

rm -f "$build"/anytls_*.deb
out=$(cd "$build" && cpack -G DEB 2>&1) || fail "cpack: $out"
deb=$(ls "$build"/anytls_*.deb)
echo "package: $(basename "$deb")"
root="$scratch/root"
dpkg -x "$deb" "$root"
dpkg-deb -e "$deb" "$scratch/control"

for f in usr/bin/anytls usr/lib/systemd/system/anytls.service usr/lib/systemd/system/anytls@.service \
         usr/share/doc/anytls/README.md usr/share/doc/anytls/examples/server.json \
         usr/share/doc/anytls/examples/client.json; do
  [ -e "$root/$f" ] || fail "missing /$f"
done
[ -x "$root/usr/bin/anytls" ] || fail "/usr/bin/anytls is not executable"
ls "$root/usr/share/doc/anytls/examples/certs" >/dev/null 2>&1 && fail "generated certificates were packaged"
for s in postinst prerm postrm; do [ -x "$scratch/control/$s" ] || fail "no $s script"; done
grep -q '^Depends:.*libssl3' "$scratch/control/control" || fail "Depends lacks libssl3: $(grep Depends "$scratch/control/control")"
grep -q 'adduser --system' "$scratch/control/postinst" || fail "postinst does not create the service user"

# The units: sing-box's command line, reload, a dedicated user, hardening.
for u in anytls.service anytls@.service; do
  unit="$root/usr/lib/systemd/system/$u"
  for want in '^ExecStart=/usr/bin/anytls -D /var/lib/anytls' '^ExecReload=/bin/kill -HUP \$MAINPID' \
              '^User=anytls' '^NoNewPrivileges=true' '^ProtectSystem=strict' \
              '^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$'; do
    grep -q "$want" "$unit" || fail "$u: no line matching $want"
  done
done

# The packaged binary runs and checks a packaged example.
"$root/usr/bin/anytls" version | grep "^TLS: OpenSSL" >/dev/null || fail "packaged binary: version"
"$root/usr/bin/anytls" check -c "$root/usr/share/doc/anytls/examples/client.json" || fail "packaged example does not check"
echo "ok   package contents, scripts, dependencies, units"

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that ExecStart binaries exist: point the units at the
  # unpacked one; a template is verified through an instance name.
  mkdir -p "$scratch/units"
  for u in anytls.service anytls@.service; do
    sed -e "s#/usr/bin/anytls#$root/usr/bin/anytls#g" "$root/usr/lib/systemd/system/$u" > "$scratch/units/$u"
  done
  cp "$scratch/units/anytls@.service" "$scratch/units/anytls@example.service"
  out=$(cd "$scratch/units" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
        ./anytls.service ./anytls@example.service 2>&1) || fail "systemd-analyze verify: $out"
  # Complaints about this container's own units are not ours.
  if echo "$out" | grep -q "anytls"; then fail "systemd-analyze verify: $out"; fi
  echo "ok   systemd-analyze verify"
else
  echo "skip systemd-analyze verify (systemd-analyze not installed)"
fi
echo "package check: ok"
