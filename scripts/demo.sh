#!/usr/bin/env bash
# The first command of the README: installs what is missing, builds the
# `anytls` binary and runs the loopback example, proving that traffic flows.
# KEEP=1 leaves it running so you can curl through it yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target anytls -j"${JOBS:-$(nproc)}"
exec ./scripts/loopback-check.sh build/anytls ${KEEP:+--keep}
