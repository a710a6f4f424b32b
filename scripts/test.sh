#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test
# twice (optimised, then ASan+UBSan), builds and checks the Debian package,
# and runs each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-10}

# The benchmarks have their own command (scripts/bench.sh); -g is left out
# here to keep two full builds well inside CI's time on 2 cores.
echo "== build (optimised)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DANYTLS_BENCH=OFF >/dev/null
cmake --build build-test -j"$jobs"
echo "== tests"
ctest --test-dir build-test --output-on-failure -j"$jobs"
echo "== package (cpack -G DEB from the optimised build, unpacked and checked)"
./scripts/package-check.sh build-test

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DANYTLS_SANITIZE=ON -DANYTLS_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzz (${fuzz_seconds}s per target)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DANYTLS_FUZZ_ONLY=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
ctest --test-dir build-fuzz --output-on-failure
