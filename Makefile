# Pilot — build, test and proof targets. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 5s
BENCHTIME ?= 100ms
STATICCHECK_VERSION ?= v0.8.2
BIN       := bin

.PHONY: help build test test-short e2e fuzz-smoke fuzz lint bench bench-micro bench-registry demo clean

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

build: ## build every program into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## the full default test run (race detector on); CI runs this
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short: ## quick run without the race detector
	$(GO) test -count=1 -short $(PKGS)

e2e: ## end-to-end suites (race detector on, programs built with -race): pilotctl --json against real processes, in-process networks
	PILOT_E2E_RACE=1 $(GO) test -race -count=1 -timeout 20m ./e2e/... ./internal/pilottest/...

fuzz-smoke: ## run every fuzz target for $(FUZZTIME) each
	@scripts/fuzz.sh $(FUZZTIME)

fuzz: ## longer fuzz campaign (FUZZTIME=5m by default here)
	@scripts/fuzz.sh $${FUZZTIME:-5m}

lint: ## gofmt, go vet (Linux and macOS) and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)  # the programs and the SDK also build on macOS
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$$( command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck ) $(PKGS)

bench: ## one table of daemon figures on loopback (throughput, CPU/GiB, RTT, first byte, idle), then the micro-benchmarks
	@BENCHTIME=$(BENCHTIME) GO=$(GO) bench/run.sh

bench-micro: ## only the go micro-benchmarks of the codecs, crypto and stream engine
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

bench-registry: ## registry load benchmark over loopback (bench/registry/run.sh)
	@if [ -x bench/registry/run.sh ]; then bench/registry/run.sh; \
	elif [ -f bench/registry/run.sh ]; then bash bench/registry/run.sh; \
	else echo "bench/registry/run.sh is not in this tree"; exit 1; fi

demo: ## bring up a local network (registry, beacon, two daemons); DEMO_EXIT=1 runs it once and exits
	@GO=$(GO) scripts/demo.sh

clean:
	rm -rf $(BIN)
