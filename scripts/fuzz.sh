#!/usr/bin/env bash
# Runs every fuzz target in the module for the given duration each.
# Usage: scripts/fuzz.sh 5s
#
# A real finding prints "Failing input written to testdata/fuzz/…" and fails
# the run (commit that file: it becomes a regression seed). Go's fuzzer can
# also end a very short run with a bare "context deadline exceeded" when the
# time budget expires while a worker is busy; that is not a finding, so such
# a run is retried (twice at most) and fails only if every attempt ends so.
set -euo pipefail
fuzztime=${1:-5s}
cd "$(dirname "$0")/.."
status=0
run() { go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" -fuzzminimizetime 5x "$2" 2>&1; }
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($fuzztime)"
    if out=$(run "$target" "$pkg"); then
      echo "$out" | tail -n 2
      continue
    fi
    echo "$out"
    ok=0
    for attempt in 2 3; do
      if ! grep -q 'context deadline exceeded' <<<"$out" || grep -q 'Failing input written' <<<"$out"; then
        break
      fi
      echo "== $pkg $target: fuzzer deadline hiccup, attempt $attempt"
      if out=$(run "$target" "$pkg"); then
        echo "$out" | tail -n 2
        ok=1
        break
      fi
      echo "$out"
    done
    [ "$ok" = 1 ] && continue
    status=1
  done
done
exit $status
