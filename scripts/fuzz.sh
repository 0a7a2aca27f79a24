#!/usr/bin/env bash
# Runs every fuzz target in the module for the given duration each.
# Usage: scripts/fuzz.sh 5s
#
# A real finding prints "Failing input written to testdata/fuzz/…" and fails
# the run (commit that file: it becomes a regression seed). Go's fuzzer can
# also end a very short run with a bare "context deadline exceeded" when the
# time budget expires while a worker is busy (often while it gathers the
# baseline of a large corpus or minimizes a new input); that is not a
# finding: a crash or a hang always writes its failing input. Such a run is
# retried up to three times; if every attempt ends so, the target is
# reported as not fuzzed (a warning), not as failed.
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
    hiccup() { grep -q 'context deadline exceeded' <<<"$1" && ! grep -q -e 'Failing input written' -e 'seed corpus' <<<"$1"; }
    for attempt in 2 3 4; do
      hiccup "$out" || break
      echo "== $pkg $target: fuzzer deadline hiccup, attempt $attempt"
      if out=$(run "$target" "$pkg"); then
        echo "$out" | tail -n 2
        ok=1
        break
      fi
      echo "$out"
    done
    [ "$ok" = 1 ] && continue
    if hiccup "$out"; then
      echo "== WARNING: $pkg $target: every attempt ended in a deadline hiccup; not fuzzed this run (no finding)"
      continue
    fi
    status=1
  done
done
exit $status
