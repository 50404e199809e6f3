# Targets are what CI and people run. `make run` needs only Go; `make test`
# also needs xmllint (Debian: libxml2-utils) and a Redis: REDIS_URL, else
# 127.0.0.1:6379, else a throwaway redis-server it starts (Debian: redis-server).
GO        ?= go
BIN       := bin
GOLANGCI  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
FUZZTIME  ?= 100000x
BENCHTIME ?= 1s
ADAPTER   ?= http://127.0.0.1:8080
TREASURY  ?= http://127.0.0.1:8081

.PHONY: all build run test lint vet bench bench-verify bench-e2e soak fuzz replay load fixtures pki tlspki schemas check-generated clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The adapter on :8080 (its admin listener, /metrics and /v1/admin/..., on
# :8090) with the treasury simulator on :8081 and the portal simulator on
# :8082, all on embedded defaults. Ctrl-C stops all three.
run: build
	@set -e; trap 'kill $$tp $$pp 2>/dev/null; wait 2>/dev/null' EXIT INT TERM; \
	$(BIN)/treasury-sim -callback-url http://127.0.0.1:8080/v1/callbacks/treasury/status \
	  -callback-secret whsec_ZGV2LXRyZWFzdXJ5LWNhbGxiYWNrLXNlY3JldC0wMDAx -callback-interval 10s & tp=$$!; \
	$(BIN)/portal-sim & pp=$$!; \
	$(BIN)/adapter

# Every test, with the race detector, in random order.
test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) run $(GOLANGCI) run ./...

vet:
	$(GO) vet ./...

# Benchmarks of the hot path with allocation counts (figures in README.md):
# the verification comparison first (README "Signature verification"), then
# every other benchmark.
bench: bench-verify
	$(GO) test -run '^$$' -bench . -skip 'VerifyCompare' -benchmem -benchtime $(BENCHTIME) ./adapter/...

# XML and JSON verification side by side with stock goxmldsig / go-jose and
# the cryptographic floor, in one run; the fast rows print x-stock and
# x-floor. VERIFYCOUNT repetitions (take the median on a busy machine).
VERIFYCOUNT ?= 1
bench-verify:
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench 'VerifyCompare' -benchmem -count $(VERIFYCOUNT) ./adapter/xmlsig/ ./adapter/jws/

# The stack end to end on Redis (REDIS_URL, else 127.0.0.1:6379, else a
# throwaway redis-server): XML and JSON submissions with 64 clients, a bare
# 200-OK Go server under the same load generator as the machine's ceiling,
# eight concurrent 5,000-line payroll dossiers; one table (README
# "Benchmarks"). Ports, evidence directory and Redis key prefix are its own.
BENCH_FLAGS ?=
bench-e2e: build
	$(BIN)/dvc-bench -bin $(BIN) $(BENCH_FLAGS)

# Ten minutes of XML submissions at half the measured XML rate, the
# adapter's RSS sampled every 10 s (not part of make test).
soak: build
	$(BIN)/dvc-bench soak -bin $(BIN) $(BENCH_FLAGS)

# Each fuzz target for FUZZTIME (go test runs one target per invocation).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Sends every fixture to a running adapter (make run) and checks the answers
# and the treasury simulator's documents.
replay:
	$(GO) run ./cmd/dvc-replay -addr $(ADAPTER) -treasury $(TREASURY) -fixtures testdata/fixtures

# The load mode against a running adapter (make run): unique dossiers signed
# before the run, 64 clients, 3 s warm-up, 20 s measured. LOAD_FLAGS adds
# flags (-form json, -rate 500, -duration 60s, ...; dvc-replay load -h).
LOAD_FLAGS ?=
load:
	$(GO) run ./cmd/dvc-replay load -addr $(ADAPTER) $(LOAD_FLAGS)

# Regenerate derived files (fixtures: testdata/fixtures and testdata/withdrawals).
pki:
	$(GO) run ./cmd/dvc-sign pki -out testdata/pki
tlspki:
	$(GO) run ./cmd/dvc-sign tlspki -out testdata/tls -force
fixtures:
	$(GO) run ./cmd/dvc-sign fixtures -templates testdata/templates -pki testdata/pki -out testdata/fixtures
schemas:
	$(GO) run ./cmd/schemagen -schemas schemas
check-generated:
	$(GO) run ./cmd/schemagen -schemas schemas -check

clean:
	rm -rf $(BIN)
