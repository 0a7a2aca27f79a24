#!/usr/bin/env bash
# Brings up a local Pilot network on loopback, in the foreground: a registry
# with its embedded SQLite store, a beacon and two daemons. It makes the two
# daemons trust each other, shows a ping, an echo and a short bulk benchmark,
# prints how to drive the daemons with pilotctl, and waits for Ctrl-C, which
# stops every process it started and removes the temporary directory.
#
#   scripts/demo.sh            interactive (Ctrl-C to stop)
#   scripts/demo.sh --once     run the same steps and exit (0 on success)
#   DEMO_EXIT=1 make demo      same as --once
#
# Environment: GO (go command), DEMO_BIN (use prebuilt binaries from this
# directory instead of building), DEMO_KEEP=1 (keep the temp dir on exit).
set -euo pipefail
cd "$(dirname "$0")/.."

once=${DEMO_EXIT:-0}
for arg in "$@"; do
  case "$arg" in
    --once) once=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $arg" >&2; exit 2 ;;
  esac
done

GO=${GO:-go}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pilot-demo.XXXXXX")
pids=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    # Stop the daemons first, then the beacon and the registry (each with
    # SIGTERM: they shut down gracefully).
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      kill -TERM "${pids[$i]}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
      # bounded: SIGKILL whatever has not exited after ~10 s
      local n=0
      while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  fi
  if [ "${DEMO_KEEP:-0}" = 1 ]; then
    echo "demo: kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
  echo "demo: FAILED: $*" >&2
  for f in "$tmp"/*.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $(basename "$f") ----" >&2
    tail -n 15 "$f" >&2
  done
  exit 1
}

# ---- build ----------------------------------------------------------------
if [ -n "${DEMO_BIN:-}" ]; then
  bin=$DEMO_BIN
else
  bin="$tmp/bin"
  say "building pilot-registry, pilot-beacon, pilot-daemon, pilotctl"
  mkdir -p "$bin"
  "$GO" build -o "$bin/" ./cmd/pilot-registry ./cmd/pilot-beacon ./cmd/pilot-daemon ./cmd/pilotctl ||
    die "go build failed"
fi
for prog in pilot-registry pilot-beacon pilot-daemon pilotctl; do
  [ -x "$bin/$prog" ] || die "$bin/$prog is missing"
done

# wait_for DESC SECONDS COMMAND...: poll COMMAND every 0.1 s until it
# succeeds, at most SECONDS.
wait_for() {
  local desc=$1 secs=$2 n=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    [ $n -le $((secs * 10)) ] || die "timed out after ${secs}s waiting for $desc"
    sleep 0.1
  done
}

# log_addr FILE KEY: the value of KEY=host:port in the "listening" line.
log_addr() { sed -n "s/.*listening.* $2=\([0-9.]*:[0-9]*\).*/\1/p" "$1" | head -n 1; }

# ---- registry and beacon --------------------------------------------------
token="demo-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
say "starting pilot-registry (store in $tmp/registry)"
"$bin/pilot-registry" -listen 127.0.0.1:0 -data-dir "$tmp/registry" -admin-token "$token" \
  -rate-limit off >"$tmp/registry.log" 2>&1 &
pids+=($!)
wait_for "the registry to listen" 20 grep -q 'registry listening' "$tmp/registry.log"
reg=$(log_addr "$tmp/registry.log" addr)
[ -n "$reg" ] || die "cannot read the registry address"
echo "registry on $reg"

say "starting pilot-beacon"
"$bin/pilot-beacon" -listen 127.0.0.1:0 -registry "$reg" >"$tmp/beacon.log" 2>&1 &
pids+=($!)
wait_for "the beacon to listen" 20 grep -q 'beacon listening' "$tmp/beacon.log"
bcn=$(log_addr "$tmp/beacon.log" addr)
[ -n "$bcn" ] || die "cannot read the beacon address"
echo "beacon on $bcn"

# ---- daemons ---------------------------------------------------------------
for n in a b; do
  say "starting pilot-daemon $n"
  mkdir -p "$tmp/$n"
  "$bin/pilot-daemon" -registry "$reg" -beacon "$bcn" -listen 127.0.0.1:0 \
    -state-dir "$tmp/$n" -socket "$tmp/$n/pilot.sock" -hostname "demo-$n" \
    -heartbeat 2s >"$tmp/daemon-$n.log" 2>&1 &
  pids+=($!)
done

ctl_a() { "$bin/pilotctl" --socket "$tmp/a/pilot.sock" "$@"; }
ctl_b() { "$bin/pilotctl" --socket "$tmp/b/pilot.sock" "$@"; }

# node_id CTL: the node ID from `info` (0 before registration).
node_id() {
  "$1" --json info 2>/dev/null | grep -o '"node_id":[0-9]*' | head -n 1 | cut -d: -f2
}
registered() { local id; id=$(node_id "$1"); [ -n "$id" ] && [ "$id" != 0 ]; }
wait_for "daemon a to register" 30 registered ctl_a
wait_for "daemon b to register" 30 registered ctl_b
ida=$(node_id ctl_a)
idb=$(node_id ctl_b)
echo "daemon a is node $ida, daemon b is node $idb"

# ---- trust -----------------------------------------------------------------
say "trust: a asks b (pilotctl handshake), b approves (pilotctl approve)"
ctl_a handshake "$idb" "demo: a wants to talk to b" || die "handshake failed"
has_pending() { ctl_b --json pending | grep -q "\"node_id\":$ida[,}]"; }
wait_for "b to receive a's trust request" 30 has_pending
ctl_b approve "$ida" || die "approve failed"
trusts() { "$1" --json trust | grep -q "\"node_id\":$2[,}]"; }
wait_for "a to see b's approval" 30 trusts ctl_a "$idb"
wait_for "b to trust a" 30 trusts ctl_b "$ida"
ctl_a trust

# ---- traffic ---------------------------------------------------------------
say "ping b from a (each probe opens a stream to the echo service, port 7)"
ctl_a ping "$idb" --count 3 --interval 200ms || die "ping failed"

say "echo: send a message to b's port 7 and read the reply"
ctl_a send "$idb" 7 --data "hello from node $ida" || die "echo failed"

say "bench: 8 MiB through an encrypted stream to b's echo service and back"
ctl_a bench "$idb" 8 || die "bench failed"

cat <<EOF

The network is up. Drive the daemons with pilotctl from another shell:

    PILOT_SOCKET=$tmp/a/pilot.sock $bin/pilotctl info
    PILOT_SOCKET=$tmp/b/pilot.sock $bin/pilotctl info
    PILOT_SOCKET=$tmp/a/pilot.sock $bin/pilotctl ping $idb
    PILOT_SOCKET=$tmp/b/pilot.sock $bin/pilotctl send $ida 7 --data hi
    PILOT_SOCKET=$tmp/a/pilot.sock PILOT_ADMIN_TOKEN=$token $bin/pilotctl network create --name demo

Registry: $reg (admin token $token), beacon: $bcn
Logs: $tmp/*.log
EOF

if [ "$once" = 1 ]; then
  say "demo: success"
  exit 0
fi
echo
echo "Press Ctrl-C to stop everything."
# Wait for Ctrl-C; if a component dies, say so and stop the rest.
while :; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "process $pid exited"
  done
  sleep 1
done
