#!/usr/bin/env bash
# Benchmarks the real pilot-registry binary over loopback (registry.md §12:
# -rate-limit off, pre-signed requests) and prints one results table, a fresh
# registry's VmRSS after 10,000 / 50,000 / 100,000 registered nodes, and a
# CPU profile of the registry under a heartbeat load of 64 clients.
#
# Usage: bench/registry/run.sh [registry-bench flags]
#   e.g. bench/registry/run.sh -n 4000 -rss 10000 -runs 1   (quicker)
# Each (operation, client count) cell runs -runs times (default 3); the table
# shows the median run and the range, the registry's and the load
# generator's CPU time per request, and the machine's idle CPU share.
# -ops register,heartbeat measures some operations only.
# Extra flags apply to the table run; PROFILE=0 skips the profile run,
# PROFILE_OP=register|lookup|resolve profiles another operation.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/pilot-registry" ./cmd/pilot-registry
go build -o "$out/registry-bench" ./bench/registry
echo "== machine: $(nproc) CPUs, $(uname -sr), go $(go env GOVERSION)"
"$out/registry-bench" -bin "$out/pilot-registry" -rss 10000,50000,100000 "$@"
if [ "${PROFILE:-1}" != 0 ]; then
  echo
  op=${PROFILE_OP:-heartbeat}
  echo "== where the time goes: registry CPU profile, $op load, 64 clients, 10,000 nodes"
  "$out/registry-bench" -clients "" -rss "" -nodes 10000 -profile-op "$op" -cpuprofile "$out/cpu.pprof" >"$out/profile-run.txt"
  grep -E "load average|cpu profile|^operation|^$op " "$out/profile-run.txt" || true
  go tool pprof -top -nodecount=40 "$out/cpu.pprof" 2>/dev/null
  echo
  echo "== cumulative (top 25)"
  go tool pprof -top -cum -nodecount=25 "$out/cpu.pprof" 2>/dev/null
fi
