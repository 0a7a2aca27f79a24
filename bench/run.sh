#!/usr/bin/env bash
# `make bench`: one table of the daemons' figures on loopback (bulk
# throughput and CPU per GiB against a loopback TCP echo, ping RTT, dial to
# first byte on a fresh tunnel, idle RSS and CPU; bench/daemon), then the
# Go micro-benchmarks of every package with a short benchtime.
#
# Environment: BENCH_MB (bulk size, default 128: long enough that slow
# start does not dominate), BENCHTIME (go test
# -benchtime, default 100ms), GO (go command), SKIP_MICRO=1 (table only).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=$(mktemp -d "${TMPDIR:-/tmp}/pilot-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

echo "== building"
"$GO" build -o "$out/" ./cmd/pilot-registry ./cmd/pilot-beacon ./cmd/pilot-daemon ./cmd/pilotctl ./bench/daemon
echo "== machine: $(nproc) CPUs, $(uname -sr), $("$GO" env GOVERSION), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$out/daemon" -bin "$out" -mb "${BENCH_MB:-128}"

if [ "${SKIP_MICRO:-0}" != 1 ]; then
  echo
  echo "== go micro-benchmarks (benchtime ${BENCHTIME:-100ms})"
  "$GO" test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-100ms}" ./... 2>&1 |
    grep -E '^(Benchmark|ok|FAIL|---)' || true
fi
