# shopnet — from a fresh Debian 12 machine, as root: `make up`, then `make test`.
# Each target installs what it needs (Debian packages, a venv with the locked
# Python dependencies) before it runs, so no other command has to be typed.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The NetworkPolicy analyzer tests/k8s runs pins its own dependencies, so it gets its own venv.
NCA_VENV ?= .venv-nca
NCA_LOCK := tests/k8s/nca-requirements.lock
ROOT := $(shell id -u)
MODE ?= $(if $(filter 0,$(ROOT)),netns,local)
SCALE ?=

# Debian packages: what runs the stack, what the tests and benchmarks use.
PKGS_STACK := redis-server postgresql postgresql-client iproute2 nftables iptables tcpdump procps python3-venv \
              python3-seccomp iputils-ping curl conntrack util-linux
PKGS_DOCKER := docker.io docker-compose mmdebstrap buildah
PKGS_BENCH := wrk nginx-light sockperf iperf3
PKGS_NIX := nix-bin
PKGS_BROWSER := chromium

.PHONY: help up up-local up-netns up-docker down status test test-fast lint images docs \
        deps-browser bench bench-local bench-netns bench-docker deps deps-docker venv nca lock clean

help:
	@echo "make up          start the stack ($(MODE) mode; MODE=local|netns|docker, SCALE=product=3)"
	@echo "make down        stop it and remove everything of ours"
	@echo "make test        run the whole test suite (installs what it needs)"
	@echo "make bench       compare local, netns and docker (writes bench-results/)"
	@echo "make images      build the Docker images offline (no registry needed)"
	@echo "make docs        regenerate docs/topology.svg from the topology"

# -- setup -------------------------------------------------------------------

# Install missing Debian packages (root only; others get the apt-get line to run).
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$(ROOT)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "missing Debian packages: $$missing (run: sudo apt-get install $$missing)"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call apt_install,$(PKGS_STACK))

deps-docker: deps
	$(call apt_install,$(PKGS_DOCKER))
	@containers/ensure-dockerd

deps-nix: deps
	$(call apt_install,$(PKGS_NIX))

deps-bench: deps
	$(call apt_install,$(PKGS_BENCH))

# The dashboard's browser test drives Debian's Chromium (Playwright cannot download one).
deps-browser: deps
	$(call apt_install,$(PKGS_BROWSER))

# The venv is rebuilt when the lock file changes; the project is installed editable.
$(BIN)/shopnet: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: deps $(BIN)/shopnet

# network-config-analyzer for tests/k8s, from its own hash-pinned lock.
$(NCA_VENV)/bin/nca: $(NCA_LOCK)
	$(PYTHON) -m venv $(NCA_VENV)
	$(NCA_VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r $(NCA_LOCK)
	@touch $@

nca: deps $(NCA_VENV)/bin/nca

# -- the stack ---------------------------------------------------------------

up: venv $(if $(filter docker,$(MODE)),deps-docker)
	$(BIN)/shopnet up --mode $(MODE) $(if $(SCALE),--scale $(SCALE))

up-local:
	$(MAKE) up MODE=local
up-netns:
	$(MAKE) up MODE=netns
up-docker:
	$(MAKE) up MODE=docker

down: venv
	$(BIN)/shopnet down

status: venv
	$(BIN)/shopnet status

images: venv deps-docker
	$(BIN)/shopnet images build

# -- quality -----------------------------------------------------------------

# Two passes. First the tests that share nothing fixed — the unit tests and the `isolated`
# stacks (free loopback ports, their own databases) — two at a time, a file per worker (a
# module's stack stays on one). Then the whole-stack tests one at a time: they share port
# 8080, the tier subnets and one dockerd. Both passes always run; either failing fails.
# --durations: the slowest tests, so that a run says where its 25-minute budget went.
ALONGSIDE := not (docker or slow or root) or isolated
test: venv nca deps-docker deps-bench deps-nix deps-browser
	status=0; \
	$(BIN)/python -m pytest -ra --durations=10 -n 2 --dist loadfile -m "$(ALONGSIDE)" \
	  || status=$$?; \
	$(BIN)/python -m pytest -ra --durations=30 -m "not ($(ALONGSIDE))" || status=$$?; \
	exit $$status

test-fast: venv nca
	$(BIN)/python -m pytest -ra -m "not docker and not slow"

# The README's picture; tests/dashboard/test_picture.py fails when it is out of date.
docs: venv
	$(BIN)/shopnet topology --svg docs/topology.svg

# Seconds, not minutes: CI runs it before the tests. mypy's settings: pyproject.toml.
lint: venv
	$(BIN)/ruff check services netns containers tests
	$(BIN)/ruff format --check services netns containers tests
	$(BIN)/python -m mypy

# Regenerate the hash-pinned lock files (needs `pip install uv`; not part of setup).
lock:
	uv pip compile --universal --python-version 3.11 --generate-hashes --no-header \
	  pyproject.toml --extra netns --extra bench --extra dev --extra browser -o requirements.lock
	uv pip compile --universal --python-version 3.11 --generate-hashes --no-header \
	  containers/requirements.in -o containers/requirements.lock
	uv pip compile --universal --python-version 3.11 --generate-hashes --no-header \
	  tests/k8s/nca-requirements.in -o $(NCA_LOCK)

# -- benchmarks (commands that print figures; see docs/comparison.md) ---------

bench: venv deps-docker deps-bench
	$(BIN)/shopnet bench
bench-local: venv deps-bench
	$(BIN)/shopnet bench --modes local
bench-netns: venv deps-bench
	$(BIN)/shopnet bench --modes local,netns
bench-docker: venv deps-docker deps-bench
	$(BIN)/shopnet bench --modes local,netns,docker

clean: down
	rm -rf $(VENV) $(NCA_VENV) bench-results
