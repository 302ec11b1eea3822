# senv — developer entry points. `make test` is the README's test command;
# .ci/run installs the tools, starts the Slurm testbed, then runs it.
SHELL := /bin/bash
GO ?= go
# fuzz budgets as counts, about 10 s each here: a duration's deadline races
# Go's fuzz coordinator (golang/go#75804, not fixed in go1.26) and fails a
# run with a bare "context deadline exceeded"
FUZZ_PARSE ?= 120000x
FUZZ_QUOTE ?= 8000x
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# the tests that drive the real conda-family binaries (minutes, all in
# child processes): run once, not again under the race detector
REAL_CONDA_TESTS := ^(TestCondaBackendConformance|TestCondaPipConformance|TestCondaLockFiles|TestCondaEnvironmentYMLPip|TestCondaRealBinary)$$

.PHONY: build test unit e2e lint fuzz stress bench testbed testbed-stop

# the commit (with -dirty for uncommitted changes to tracked files) and, when
# HEAD is tagged, the tag are stamped into `senv version` (main.commit,
# main.version); override with `make build VERSION=1.2 COMMIT=...`
COMMIT ?= $(shell c=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null || c=$$c-dirty; echo $$c; })
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null)
LDFLAGS := $(if $(COMMIT),-X main.commit=$(COMMIT)) $(if $(VERSION),-X main.version=$(VERSION))

# urfave_cli_no_docs leaves out urfave/cli's man-page generator, whose
# markdown tables cost every start 0.6 ms of package init
build:
	$(GO) build -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)' -o bin/senv ./cmd/senv

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/
	$(GO) vet -tags stress ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags e2e ./e2e/
	$(GO) run $(STATICCHECK) -tags stress ./...
	shellcheck e2e/testbed/*.sh bench/*.sh .ci/run

# unit, golden, process (concurrency, crash, gc) tests: no cluster needed
unit:
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 -skip '$(REAL_CONDA_TESTS)' ./envs ./solver ./jobspec ./config ./templates

# end-to-end tests against the real Slurm testbed (make testbed first)
e2e:
	$(GO) test -count=1 -timeout 30m -tags e2e ./e2e/

# each fuzz target for a fixed number of runs; minimizing each new input for up
# to a second (the default, 60s, spent the whole budget minimizing: 20k execs
# instead of 370k in 15s)
fuzz:
	$(GO) test ./jobspec/ -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZ_PARSE) -fuzzminimizetime 1s
	$(GO) test ./templates/ -run '^$$' -fuzz '^FuzzQuote$$' -fuzztime $(FUZZ_QUOTE) -fuzzminimizetime 1s

# stress loops (tag stress, tests named TestStress*; not part of test): SIGKILL
# of senv at random points, cold herds, gc under load. Counts come from
# SENV_STRESS_* (see wrapper/stress_test.go); each test prints
# "NAME: N trials, M failures".
stress:
	$(GO) test -tags stress -count=1 -timeout 30m -run '^TestStress' -v ./...

test: lint unit e2e fuzz

bench:
	bash bench/run.sh

testbed:
	bash e2e/testbed/install.sh
	bash e2e/testbed/start.sh

testbed-stop:
	bash e2e/testbed/stop.sh
