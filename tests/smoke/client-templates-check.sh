#!/usr/bin/env bash
# Real client templates' shapes load (client-templates/README.md): `anytls
# check` on each exits 0 and names no unknown field.
#   usage: client-templates-check.sh ANYTLS_BIN
set -euo pipefail
bin=${1:?usage: client-templates-check.sh ANYTLS_BIN}
dir=$(cd "$(dirname "$0")/client-templates" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for f in "$dir"/*.json; do
  name=$(basename "$f")
  # In a directory of its own: relative paths (cache.db, ui/) stay there.
  if (cd "$work" && "$bin" check -c "$f") > "$work/out" 2>&1; then
    echo "ok   $name$(grep -c '^warning' "$work/out" | sed 's/^0$//; s/^\(.\+\)$/ (\1 warnings)/')"
  else
    echo "FAIL $name: $(cat "$work/out")"
    status=1
  fi
done
exit $status
