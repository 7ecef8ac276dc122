# m365.cba — everything a fresh clone needs, from python3, make and git alone.
#   make demo   start the local Entra + Graph emulator, run playbooks/setup.yml against it twice, stop it
#   make test   unit tests, msal matrix, integration targets, sanity, lint, docs, changelog lint
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
BUILD ?= $(CURDIR)/build
COLLECTIONS := $(BUILD)/collections
COLL := $(COLLECTIONS)/ansible_collections/m365/cba
EMU_DIR := $(BUILD)/emulator
EMU := PYTHONPATH=$(CURDIR)/tests/emulator $(PY) -m m365emu

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: help venv collection demo bench test units integration e2e awx reliability sanity lint docs changelog-lint emulator-start emulator-stop clean

help:
	@echo "make demo    run the demo playbook against the local emulator"
	@echo "make test    run every test"

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Ansible finds a collection only below ansible_collections/<namespace>/<name>, and ansible-test
# refuses a symbolic link: keep a real copy of the working tree there.
collection: venv
	rm -rf $(COLL)
	mkdir -p $(COLL)
	tar --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./tests/output \
	    --exclude='__pycache__' --exclude='.pytest_cache' -cf - . | tar -xf - -C $(COLL)
	# Our own repository ignores build/: give the copy a repository of its own so that
	# ansible-test lists its files.
	git -C $(COLL) init -q

emulator-start: venv
	$(EMU) stop --state-dir $(EMU_DIR) >/dev/null 2>&1 || true
	$(EMU) start --state-dir $(EMU_DIR) --tenants $(or $(TENANTS),3)

emulator-stop:
	$(EMU) stop --state-dir $(EMU_DIR)

# The demo: five tenants set up from nothing, then the same run again (changed=0 everywhere).
demo: collection
	@$(EMU) stop --state-dir $(EMU_DIR) >/dev/null 2>&1 || true
	@rm -rf $(EMU_DIR) $(BUILD)/demo-certificates
	@$(MAKE) --no-print-directory emulator-start TENANTS=5
	@status=0; vars=$$($(PY) tests/utils/demo_vars.py $(EMU_DIR) $(BUILD)/demo-certificates); \
	  echo "== First run: sets up every tenant"; \
	  $(BIN)/ansible-playbook -i $(EMU_DIR)/inventory.yml -e @$$vars playbooks/setup.yml || status=$$?; \
	  if [ $$status -eq 0 ]; then \
	    echo "== Second run: nothing left to change"; \
	    $(BIN)/ansible-playbook -i $(EMU_DIR)/inventory.yml -e @$$vars playbooks/setup.yml || status=$$?; \
	  fi; \
	  $(MAKE) --no-print-directory emulator-stop; exit $$status

units: venv
	$(PY) -m pytest -q tests/unit

integration: collection
	BUILD=$(BUILD) tests/run-integration.sh

sanity: collection
	tests/utils/place-get-pip.sh
	cd $(COLL) && $(BIN)/ansible-test sanity --venv --python 3.11 --color no

lint: collection
	cd $(COLL) && $(BIN)/ansible-lint --offline

docs: collection
	$(BIN)/ansible-doc -l m365.cba
	for m in plugins/modules/*.py; do $(BIN)/ansible-doc m365.cba.$$(basename $$m .py) >/dev/null; done

changelog-lint: venv
	$(BIN)/antsibull-changelog lint

# End-to-end runs of the role and playbooks, AWX/runner/builder, and reliability (faults, bad input,
# secrets, interruption, concurrency), each against in-process emulators.
e2e: collection
	$(PY) -m pytest -q tests/e2e

awx: collection
	$(PY) -m pytest -q tests/awx

reliability: collection
	$(PY) -m pytest -q tests/reliability

test: units integration e2e awx reliability sanity lint docs changelog-lint
	@echo "make test: all checks passed"

# Timings (not part of make test): writes docs/benchmarks.md. SCALES=10,100 for a shorter run.
bench: collection
	$(PY) tests/bench/bench.py --scales $(or $(SCALES),10,100,500)

# Soak (not part of make test): 10 runs of the setup over 20 emulator tenants = 200 tenant-runs, 5 % random
# faults; writes the result to docs/soak.md.
.PHONY: soak
soak: collection
	$(PY) tests/soak/soak.py --runs 10 --tenants 20 --fault-rate 0.05 --seed 20261127 --workdir $(BUILD)/soak --report docs/soak.md

clean:
	-$(EMU) stop --state-dir $(EMU_DIR) >/dev/null 2>&1
	rm -rf $(BUILD) tests/output
