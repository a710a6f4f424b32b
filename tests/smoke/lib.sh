# Sourced by the shell checks (smoke/, fault/): a work directory, removed at
# exit with the processes in $pids (and $server_pid) killed; free_port; and
# wait_for, which calls the script's own fail().
work=$(mktemp -d)
pids=()
server_pid=
cleanup() {
  for p in "${pids[@]}" $server_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for FILE PATTERN [COUNT]: until PATTERN occurs COUNT times (default 1) in FILE; 30 s at most.
wait_for() {
  local n=${3:-1}
  for _ in $(seq 300); do
    [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$n" ] && return 0
    sleep 0.1
  done
  fail "timed out waiting for '$2' in $1"
}
