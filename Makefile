# Pilot — build, test and proof targets. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 5s
BENCHTIME ?= 1s
STATICCHECK_VERSION ?= v0.8.2
BIN       := bin

.PHONY: help build test test-short fuzz-smoke fuzz lint bench demo clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every program into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## the full default test run (race detector on); CI runs this
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short: ## quick run without the race detector
	$(GO) test -count=1 -short $(PKGS)

fuzz-smoke: ## run every fuzz target for $(FUZZTIME) each
	@scripts/fuzz.sh $(FUZZTIME)

fuzz: ## longer fuzz campaign (FUZZTIME=5m by default here)
	@scripts/fuzz.sh $${FUZZTIME:-5m}

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$$( command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck ) $(PKGS)

bench: ## micro-benchmarks of the codecs, crypto and stream engine
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

demo: ## bring up a local network (registry, beacon, two daemons)
	@scripts/demo.sh

clean:
	rm -rf $(BIN)
