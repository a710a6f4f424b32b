#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test
# twice (optimised, then ASan+UBSan), builds and checks the Debian package,
# runs the threaded parts once more under TSan, and runs each fuzz target
# briefly.
#
# CI has 2 cores, so the stages overlap: while one stage's tests run (they
# mostly wait on sockets and child processes) the next build runs beside them
# at nice 19, using every core but yielding the CPU whenever a test wants it.
# The fuzz build (small) starts first and soaks up the optimised build's
# serial steps (its precompiled headers, its links).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-4}

# The benchmarks have their own command (scripts/bench.sh); -g is left out
# of the optimised build to keep the builds well inside CI's time on 2 cores.
common=(-G Ninja -DANYTLS_BENCH=OFF -DANYTLS_WERROR=ON)
# Every build is a unity build (cmake/unity.cmake: the library in batches of
# 8 sources; tests one source per unit): the CI budget is 25 minutes on 2
# cores.
# The sanitizer and fuzz builds use clang 19 (Debian's clang-19): it compiles
# the test code (-O0, instrumented) in 30-37 % less time than GCC 12
# (measured on clash_test.cpp: 23.1 s against 16.4 s), and a second compiler
# checks the code. Its sanitizers' reports are symbolised by llvm-19's
# llvm-symbolizer (PATH below).
clang=(-DCMAKE_CXX_COMPILER=clang++-19)
llvm_path=/usr/lib/llvm-19/bin:$PATH
sanitizer=("${clang[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" -DCMAKE_UNITY_BUILD=ON)
# The TSan build, the last one and alone on the machine at its end, compiles
# the library at -O0: 44 % less compile time than -O1 (measured on one unity
# batch), while its 12 tests, mostly waiting, take a few seconds more.
tsan_flags=("${clang[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O0" -DCMAKE_UNITY_BUILD=ON)
# ThreadSanitizer: the tests where threads meet (the resolver's workers
# posting back, sessions, the pool, the server end to end, two worker
# threads: integ_workers_test, and the pool and client tests once more with
# their sessions spread over two workers: the *_workers2 runs; the log set
# up again while a worker logs: app_logging_test).
tsan_targets=(anytls_session_control_test anytls_session_data_test anytls_session_robustness_test
              net_resolver_test net_dialer_test integ_server_test integ_client_test integ_pool_test
              integ_workers_test app_logging_test)
tsan_tests=("${tsan_targets[@]}" integ_pool_test_workers2 integ_client_test_workers2)

background=()
# Each background build is a process group of its own (set -m), so that an
# early exit stops its compilers too, not just the subshell.
trap 'for p in "${background[@]}"; do kill -- "-$p" 2>/dev/null || true; done' EXIT
# start_build DIR CONFIGURE_ARGS...: configures and builds DIR (the targets in
# build_targets, or all) in the background at nice 19, output in DIR.log; its
# pid in build_pid.
build_targets=()
start_build() {
  local dir=$1
  shift
  set -m
  (nice -n 19 cmake -S . -B "$dir" "$@" >/dev/null &&
   nice -n 19 cmake --build "$dir" -j"$jobs" "${build_targets[@]}") > "$dir.log" 2>&1 &
  build_pid=$!
  set +m
  background+=("$build_pid")
}
# finish_build DIR PID: waits for a background build; on failure shows the
# compiler's errors (or the log's end) and stops the test command.
finish_build() {
  if ! wait "$2"; then
    if grep -q '^FAILED:' "$1.log"; then sed -n '/^FAILED:/,$p' "$1.log" | head -300; else tail -50 "$1.log"; fi
    echo "== $1 failed (log in $1.log)"
    exit 1
  fi
  tail -1 "$1.log"
}
start_build build-fuzz -G Ninja "${clang[@]}" -DANYTLS_FUZZ_ONLY=ON
fuzz_build=$build_pid

echo "== [$((SECONDS))s] build (optimised; the fuzz build runs beside it, log in build-fuzz.log)"
cmake -S . -B build-test "${common[@]}" -DCMAKE_UNITY_BUILD=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" >/dev/null
cmake --build build-test -j"$jobs"

start_build build-asan "${common[@]}" "${sanitizer[@]}" -DANYTLS_SANITIZE=ON
asan_build=$build_pid
echo "== [$((SECONDS))s] tests (the ASan+UBSan build runs meanwhile, log in build-asan.log)"
ctest --test-dir build-test --output-on-failure -j"$jobs"
echo "== [$((SECONDS))s] package (cpack -G DEB from the optimised build, unpacked and checked)"
./scripts/package-check.sh build-test

echo "== [$((SECONDS))s] build (ASan+UBSan)"
finish_build build-asan "$asan_build"
build_targets=(--target "${tsan_targets[@]}")
start_build build-tsan "${common[@]}" "${tsan_flags[@]}" -DANYTLS_TSAN=ON
tsan_build=$build_pid
echo "== [$((SECONDS))s] tests (ASan+UBSan; the TSan build runs meanwhile, log in build-tsan.log)"
PATH=$llvm_path ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== [$((SECONDS))s] build (TSan: session, pool, integration)"
finish_build build-tsan "$tsan_build"
echo "== [$((SECONDS))s] tests (TSan)"
PATH=$llvm_path TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" \
  -R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$"

echo "== [$((SECONDS))s] build (fuzz)"
finish_build build-fuzz "$fuzz_build"
# Each target fuzzes for its full FUZZ_SECONDS on a core of its own.
echo "== [$((SECONDS))s] fuzz (${fuzz_seconds}s per target)"
PATH=$llvm_path FUZZ_SECONDS="$fuzz_seconds" ctest --test-dir build-fuzz --output-on-failure -j"$jobs"
