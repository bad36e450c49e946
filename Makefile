# gatehouse: thin wrapper over CMake. `make run` and `make test` are the two set-up commands.
BUILD      ?= build
TEST_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

# Debian 12 packages the build and tests need (installed by `make deps` when missing).
DEB_BUILD = build-essential cmake pkg-config libmicrohttpd-dev libsodium-dev libjansson-dev \
            libsqlite3-dev nettle-dev libcrypt-dev libzxcvbn-dev libunistring-dev \
            libseccomp-dev libgnutls28-dev libpq-dev libhiredis-dev
DEB_TEST  = libcmocka-dev libcurl4-openssl-dev sqlite3 openssl curl nginx-light caddy python3 \
            chromium faketime $(DEB_LINT) $(DEB_NODE)
# The static analysers (the CTest self-test needs them; `make lint` runs them over src/).
DEB_LINT  = clang clang-tidy clang-tools cppcheck python3
# Node.js + npm for the browser tests (tests/e2e, playwright-core); the machine's own are used
# when present (Debian's nodejs otherwise).
DEB_NODE  = $(if $(shell command -v node >/dev/null && command -v npm >/dev/null && echo y),,nodejs npm)
DEB_BENCH = wrk nginx-light
DEB_ATTACK = sqlmap slowhttptest faketime python3 curl
ATTACK_OUT ?= $(BUILD)/attack
DEB_FUZZ  = clang libclang-rt-14-dev
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build run test deps deps-test deps-bench bench fuzz test-tls test-attack lint clean

all: build

deps:
	@sh scripts/install-deps.sh $(DEB_BUILD)

deps-test:
	@sh scripts/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

deps-bench:
	@sh scripts/install-deps.sh $(DEB_BUILD) $(DEB_BENCH)

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DGH_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: deps build
	@mkdir -p -m 700 var
	GATEHOUSE_ENV=development ./$(BUILD)/gatehouse serve

test: deps-test build
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGH_SANITIZE=ON -DGH_TESTS=ON \
		-DGH_RELEASE_BINARY=$(CURDIR)/$(BUILD)/gatehouse >/dev/null
	@cmake --build $(TEST_BUILD) -j$(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j$(JOBS)

# libFuzzer: every fuzz/fuzz_*.c for FUZZ_SECONDS each, from its seed corpus (copied: the
# tree's corpus only changes by hand). Any crash or failed invariant fails the run.
fuzz:
	@sh scripts/install-deps.sh $(DEB_BUILD) $(DEB_FUZZ)
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGH_FUZZ=ON -DGH_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps-bench build
	@sh bench/run.sh

# PostgreSQL variant and two instances (+ Redis) of GET /v1/me and refresh, with per-request CPU
# and round trips and a capacity model for N machines; writes bench/SCALEOUT.md (~4-5 min).
DEB_SCALEOUT = wrk postgresql postgresql-client redis-server redis-tools sqlite3 curl python3
.PHONY: bench-scaleout
bench-scaleout:
	@sh scripts/install-deps.sh $(DEB_BUILD) $(DEB_SCALEOUT)
	@$(MAKE) --no-print-directory build
	@GATEHOUSE_BIN=$${GATEHOUSE_BIN:-$(CURDIR)/$(BUILD)/gatehouse} sh bench/scaleout.sh

# Attack suite (issue 6): sqlmap, slowhttptest, JWT forgeries, malformed requests, header
# injection against the release binary on loopback; report in $(ATTACK_OUT)/report.md.
test-attack: build
	@sh scripts/install-deps.sh $(DEB_ATTACK)
	@sh tests/attack/run.sh $(BUILD)/gatehouse $(ATTACK_OUT)

# Static analysis (issue 6): the source gate, each analyser's self-test, then clang-tidy,
# cppcheck and scan-build over src/ (~8 min CPU, ~4-4.5 min on 2 idle cores). Any finding fails.
lint:
	@sh scripts/install-deps.sh $(DEB_BUILD) $(DEB_LINT)
	@sh tests/check_source.sh src
	@sh scripts/static-analysis.sh --self-test
	@JOBS=$(JOBS) sh scripts/static-analysis.sh src

# testssl.sh against native TLS on loopback: no weak protocol, cipher or vulnerability.
test-tls: build
	@sh scripts/install-deps.sh testssl.sh openssl curl python3
	@sh scripts/testssl.sh $(BUILD)/gatehouse docs/testssl-report.txt

clean:
	rm -rf $(BUILD) $(TEST_BUILD)

# ---- Container and dependency inventory (issue 6 items 7, 8: docs/container.md, docs/sbom.md)
SBOM ?= $(BUILD)/gatehouse.spdx.json
.PHONY: sbom npm-audit container-check container-proof

# SPDX 2.3 JSON: every library the release binary loads, its Debian package and full version.
sbom: build
	@sh scripts/sbom.sh $(BUILD)/gatehouse $(SBOM)

# npm audit of the browser tests' lockfile (says NOT CHECKED when the registry has no
# advisory endpoint; GH_NPM_AUDIT_STRICT=1 makes that fail).
npm-audit:
	@sh scripts/npm-audit.sh tests/e2e

# Fast, no engine: the Dockerfile's rules, and the runtime package list against the binary.
container-check: build
	@sh tests/container/check_dockerfile.sh
	@sh scripts/linked-packages.sh --check scripts/runtime-packages.txt $(BUILD)/gatehouse

# The runtime stage for real (root, ~70 s fresh, ~5 s cached): mmdebstrap a debian:12-slim-like
# root with scripts/runtime-packages.txt, run the release binary there as uid 10001 on a
# read-only root with a data volume; /healthz, register + login, HEALTHCHECK, doctor inside.
container-proof: build
	@sh scripts/install-deps.sh mmdebstrap
	@sh scripts/container-proof.sh $(BUILD)/gatehouse

# Both stages without an engine: the Dockerfile's build stage run instruction by instruction in
# a fresh bookworm root (~3-4 min more), then the runtime proof on the binary it built.
.PHONY: container-proof-full
container-proof-full:
	@sh scripts/install-deps.sh mmdebstrap
	@sh scripts/container-proof.sh --build-stage
