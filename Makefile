# phpeek-pm — build, test and release targets (INTERFACE.md "Build and run").
#
# Every target installs what it needs when it is missing (scripts/ensure-deps.sh: rustup
# targets and components, Debian packages), so a fresh Debian 12 machine with rustup/cargo
# needs nothing else. One target directory (target/) serves every build.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
# Builds of different feature sets share target/<triple>/release/phpeek-pm: never in parallel.
.NOTPARALLEL:

CARGO ?= cargo
BUILD := build
ENSURE := scripts/ensure-deps.sh
STATIC := scripts/build-static.sh

.PHONY: build build-minimal build-tiny dev test e2e run build-all bench soak fuzz size-report fmt lint clean help

## build          build/phpeek-pm: static musl binary with all features (--features full)
build:
	$(STATIC) amd64 full $(BUILD)/phpeek-pm

## build-minimal  build/phpeek-pm-minimal: static musl binary, default features, < 1 MiB
build-minimal:
	$(STATIC) amd64 minimal $(BUILD)/phpeek-pm-minimal

## build-tiny     opt-in nightly builds: build/phpeek-pm-tiny (minimal), build/phpeek-pm-tiny-full
##                (build-std, immediate-abort panics; scripts/build-tiny.sh)
build-tiny:
	scripts/build-tiny.sh minimal $(BUILD)/phpeek-pm-tiny
	scripts/build-tiny.sh full $(BUILD)/phpeek-pm-tiny-full

## dev            fast debug build of the full feature set (target/debug/phpeek-pm)
dev:
	$(CARGO) build --features full
	@echo "dev build: target/debug/phpeek-pm"

## test           the whole suite (.ci/run calls exactly this); TEST_ONLY="ids" runs a subset
test:
	scripts/test.sh

## e2e            the Laravel end-to-end test (tests/e2e/run.py): php-fpm, nginx, Horizon, queue
##                workers, scheduler, API, Prometheus; as PID 1 of a namespace and under Docker
e2e: build
	$(ENSURE) e2e
	python3 tests/e2e/run.py --binary $(BUILD)/phpeek-pm --require-all

## run            build, then run the demo stack of configs/examples/demo.yaml (Ctrl-C stops it)
run: build
	$(BUILD)/phpeek-pm -c configs/examples/demo.yaml

## build-all      static linux/amd64 and linux/arm64 binaries (full and minimal) + SHA256SUMS
build-all:
	$(STATIC) amd64 full $(BUILD)/phpeek-pm-linux-amd64
	$(STATIC) amd64 minimal $(BUILD)/phpeek-pm-minimal-linux-amd64
	$(STATIC) arm64 full $(BUILD)/phpeek-pm-linux-arm64
	$(STATIC) arm64 minimal $(BUILD)/phpeek-pm-minimal-linux-arm64
	cd $(BUILD) && sha256sum phpeek-pm-linux-amd64 phpeek-pm-minimal-linux-amd64 \
		phpeek-pm-linux-arm64 phpeek-pm-minimal-linux-arm64 > SHA256SUMS
	@ls -l $(BUILD)/phpeek-pm-*linux-* && cat $(BUILD)/SHA256SUMS

## bench          benchmark table against the installed peers (bench/run.sh)
bench:
	@if [ -f bench/run.sh ]; then \
		bash bench/run.sh; \
	else \
		echo "make bench: bench/run.sh does not exist yet (the benchmark harness of issue 3)." >&2; \
		exit 1; \
	fi

## soak           30 minutes of the full build under load; RSS, fds, threads must stay flat
soak: build
	bash bench/soak.sh build/phpeek-pm

## fuzz           every fuzz target for FUZZ_SECONDS each (default 60; cargo-fuzz, nightly)
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} scripts/fuzz.sh

## size-report    rebuild every feature set and rewrite size-report/REPORT.md (fails over budget)
size-report:
	size-report/run.sh

## fmt            format the code
fmt:
	$(ENSURE) lint
	$(CARGO) fmt

## lint           rustfmt check and clippy -D warnings (minimal and full)
lint:
	$(ENSURE) lint
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features full -- -D warnings

## clean          remove target/ and build/
clean:
	$(CARGO) clean
	rm -rf $(BUILD)

## help           list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
