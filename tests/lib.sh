# lib.sh: sourced by the suites that are shell scripts (backup/pitr.sh, fault/fault.sh).

# Run a command as the cluster's owner (initdb and pg_ctl refuse root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A port below the kernel's ephemeral range (so no test server's port 0 lands on it) that
# nobody listens on, with the next n-1 free too.
free_ports() {
  local n=$1 p ok i
  for _ in $(seq 200); do
    p=$(( 10000 + RANDOM % 20000 )); ok=1
    for i in $(seq 0 $((n - 1))); do
      (exec 3<>"/dev/tcp/127.0.0.1/$((p + i))") 2>/dev/null && ok=0
    done
    [ $ok = 1 ] && { echo "$p"; return 0; }
  done
  return 1
}
