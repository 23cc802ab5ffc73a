# CheckpointBridge. On a fresh machine two commands are enough:
#   make demo   install what is missing, build, and run the main job on the bundled fixture
#   make test   install what is missing (apt packages, the interop venv), build, run every test
SHELL := /bin/bash
SWIFT ?= swift
JOBS ?= $(shell nproc)
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := libopenblas-dev libzstd-dev libxxhash-dev libpng-dev libjpeg62-turbo-dev pkg-config
CLI_RELEASE := .build/release/ckpt-bridge
DEMO_OUT := out/demo

.PHONY: cluster cluster-deps all deps wheel-deps build release wheel test unit interop hostile faults fuzz fuzz-smoke venv demo bench clean

all: build

# System libraries (found through pkg-config). Installed only when missing.
deps:
	@if pkg-config --exists openblas libzstd libxxhash libpng libjpeg 2>/dev/null; then \
	  echo "deps: openblas, zstd, xxhash, png, jpeg present"; \
	else \
	  echo "deps: installing $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

build: deps
	$(SWIFT) build

# One release build gives the CLI and the C ABI library (libCheckpointBridgeC.so, for the Python package).
release: deps
	$(SWIFT) build -c release

# patchelf gives the bundled libraries of the wheel their RUNPATH $ORIGIN. Installed only when missing.
wheel-deps:
	@command -v patchelf >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq patchelf; }

# The Python package ckpt_bridge as a wheel in dist/, carrying the library, the CLI and the runtime they need.
wheel: release wheel-deps
	python3 scripts/build-wheel.py --build .build/release --dist dist

# The whole suite: Swift tests, then the interop tests against real torch / megatron-core / transformers.
test: unit interop hostile faults cluster fuzz-smoke

unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers $(JOBS)

venv: $(VENV)/.complete

$(VENV)/.complete: Tests/Interop/requirements.lock.txt scripts/setup-venv.sh
	scripts/setup-venv.sh $(VENV)

interop: deps venv release wheel-deps
	CKPT_BRIDGE=$(CLI_RELEASE) CKPT_BRIDGE_LIBRARY=.build/release/libCheckpointBridgeC.so $(PY) -m pytest -q Tests/Interop

# The hostile-input catalogue (Tests/Hostile/README.md): every case run against the release CLI under rlimits.
hostile: deps venv release
	CKPT_BRIDGE=$(CLI_RELEASE) $(PY) -m pytest -q -p no:cacheprovider Tests/Hostile

# Fault tests (Tests/Faults): the release CLI killed with SIGKILL at each write and commit step, and a file-size limit.
faults: deps venv release
	CKPT_BRIDGE=$(CLI_RELEASE) $(PY) -m pytest -q -p no:cacheprovider Tests/Faults

# Split conversions (Tests/Cluster, Docs/cluster.md): node processes into one staging area, kills and reruns, and a
# one-machine Slurm cluster (slurmctld + slurmd + munged started by the test in a temporary folder).
cluster: deps venv release cluster-deps
	CKPT_BRIDGE=$(CLI_RELEASE) $(PY) -m pytest -q -p no:cacheprovider -rs Tests/Cluster

# Debian's Slurm and munge for the Slurm test. Installed only when missing.
cluster-deps:
	@if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then \
	  echo "cluster-deps: slurm-wlm, munge present"; \
	else \
	  echo "cluster-deps: installing slurm-wlm munge"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq slurm-wlm munge; \
	fi

# libFuzzer harnesses (Docs/fuzzing.md), built optimized with -sanitize=fuzzer,address in .build/fuzz (never in
# .build/debug). `make fuzz` runs each harness for FUZZ_SECONDS (default 600) one after another; `make fuzz-smoke`
# runs each for FUZZ_SMOKE_SECONDS (default 30, as issue 12 asks), about 7 min for all 13. FUZZ_HARNESSES limits
# the list (scripts/fuzz.sh list). Both print a per-harness table and write it to out/fuzz/summary.txt.
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_HARNESSES ?=

fuzz: deps venv
	PY=$(abspath $(PY)) scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

fuzz-smoke: deps venv
	PY=$(abspath $(PY)) scripts/fuzz.sh run $(FUZZ_SMOKE_SECONDS) $(FUZZ_HARNESSES)

demo: release
	scripts/demo.sh $(CLI_RELEASE) $(DEMO_OUT)

bench: release venv
	scripts/bench.sh $(CLI_RELEASE)

clean:
	rm -rf .build out dist Fixtures/.cache
