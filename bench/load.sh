# Sourced by bench/profile.sh and bench/syscalls.sh: starts `bench_driver
# load` (a client and a server anytls process under one load) in the
# background and sets $driver, $cpid and $spid. Expects $what and $secs;
# uses build-bench/ (or $BUILD_DIR) and writes under bench/out/.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
out=$root/bench/out
mkdir -p "$out"
[ -f "$out/certs/bench.crt" ] ||
  "$build/anytls" generate tls-keypair localhost --out-dir "$out/certs" --file-name bench >/dev/null
fifo=$(mktemp -u); mkfifo "$fifo"
"$build/bench/bench_driver" load --anytls "$build/anytls" --cert "$out/certs/bench.crt" \
  --key "$out/certs/bench.key" --out "$out" --what "$what" --seconds "$secs" > "$fifo" 2> "${driver_log:-/dev/stderr}" &
driver=$!
read -r _ cpid _ spid < "$fifo"
rm -f "$fifo"
