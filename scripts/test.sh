#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test
# twice (optimised, then ASan+UBSan), builds and checks the Debian package,
# runs the threaded parts once more under TSan, and runs each fuzz target
# briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-4}

# The benchmarks have their own command (scripts/bench.sh); -g is left out
# here to keep two full builds well inside CI's time on 2 cores.
echo "== build (optimised)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DANYTLS_BENCH=OFF -DANYTLS_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"
echo "== tests"
ctest --test-dir build-test --output-on-failure -j"$jobs"
echo "== package (cpack -G DEB from the optimised build, unpacked and checked)"
./scripts/package-check.sh build-test

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DANYTLS_SANITIZE=ON -DANYTLS_BENCH=OFF -DANYTLS_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"

# ThreadSanitizer: the tests where threads meet (the resolver's workers
# posting back, sessions, the pool, the server end to end). Its build runs
# on one core while the ASan+UBSan tests run (they mostly wait on sockets
# and child processes), and the fuzz build while the TSan tests run.
tsan_targets=(anytls_session_control_test anytls_session_data_test anytls_session_robustness_test
              net_resolver_test net_dialer_test integ_server_test integ_client_test integ_pool_test)
background=()
trap 'for p in "${background[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
(cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
   -DANYTLS_TSAN=ON -DANYTLS_BENCH=OFF -DANYTLS_WERROR=ON >/dev/null &&
 cmake --build build-tsan -j1 --target "${tsan_targets[@]}") > build-tsan.log 2>&1 &
background+=($!)
tsan_build=$!

echo "== tests (ASan+UBSan; the TSan build runs meanwhile, log in build-tsan.log)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== build (TSan: session, pool, integration)"
if ! wait "$tsan_build"; then
  tail -50 build-tsan.log
  exit 1
fi
tail -1 build-tsan.log
(cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DANYTLS_FUZZ_ONLY=ON >/dev/null &&
 cmake --build build-fuzz -j1) > build-fuzz.log 2>&1 &
background+=($!)
fuzz_build=$!
echo "== tests (TSan; the fuzz build runs meanwhile, log in build-fuzz.log)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" \
  -R "^($(IFS='|'; echo "${tsan_targets[*]}"))\$"

echo "== fuzz (${fuzz_seconds}s per target)"
if ! wait "$fuzz_build"; then
  tail -50 build-fuzz.log
  exit 1
fi
FUZZ_SECONDS="$fuzz_seconds" ctest --test-dir build-fuzz --output-on-failure
