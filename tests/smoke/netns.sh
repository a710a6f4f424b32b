# Sourced by the namespace checks. netns_end NS...: ends every process still
# running in the namespaces, then deletes them. Killing $! is not enough: a
# process started through a shell function (in_ns ... &) is a child of the
# subshell that $! names, and lived on after each passing run. TERM first
# (an anytls stopping logs its counts), KILL after 2 s.
netns_end() {
  local ns left=
  for ns in "$@"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  for _ in $(seq 20); do
    left=$(for ns in "$@"; do ip netns pids "$ns" 2>/dev/null || true; done)
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] || echo "$left" | xargs -r kill -9 2>/dev/null || true
  for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}
