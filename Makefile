# The verbs a user types. Every target sets up venv/ (the same one the Pulumi CLI uses, see
# Pulumi.yaml) on first use, so each works on a fresh machine.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= staging
PYTEST_ARGS ?=
# Test workers (pytest-xdist): one per CPU this process may run on (`-n auto`: without psutil,
# xdist counts os.sched_getaffinity, so a container's CPU set is honoured; 2 on these machines).
# JOBS=4 sets the count, JOBS=0 runs the suite in one process.
JOBS ?= auto

.PHONY: preflight test bytecode redis-server preview up verify lint typecheck schema inventory policy-docs docs bench bench-checkov clean

# Two layers: what the program, the policy pack and the gate need (`make preflight` stops there),
# and the tools for tests, lint, types and the post-deploy verifier (`make test` and the rest).
GATE_REQS := requirements.txt policies/requirements.txt preflight/requirements.txt
PIN := -c constraints.txt

$(VENV)/.gate: $(GATE_REQS) constraints.txt
	@echo "setup: creating $(VENV)/ and installing the program, the policy pack and the gate (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on $(PIN) $(addprefix -r ,$(GATE_REQS))
	touch $@

$(VENV)/.installed: $(VENV)/.gate requirements-dev.txt verify/requirements.txt
	@echo "setup: installing the test, lint and verify tools into $(VENV)/ (first run only)"
	$(PY) -m pip install --progress-bar on $(PIN) -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## Offline plan of a stack (default staging; STACK=production, STACK=dev).
preflight: $(VENV)/.gate bytecode
	$(PY) -m preflight $(STACK)

# The project's own modules, compiled once: where PYTHONDONTWRITEBYTECODE is set (these
# machines, many CI images), Python otherwise compiles every one from source on every run, the
# gate's and each pack process's (compileall skips what is up to date; __pycache__/ is ignored).
bytecode: $(VENV)/.gate
	@$(PY) -m compileall -q infra preflight policies probe verify bootstrap __main__.py >/dev/null

## Every test. The probe tests need Debian's redis-server (installed here when missing).
test: $(VENV)/.installed redis-server bytecode
	$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package) for the probe tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

## With the Pulumi CLI and cloud credentials: preview and deploy with the policy pack.
preview: $(VENV)/.gate
	pulumi preview --stack $(STACK) --policy-pack policies

up: $(VENV)/.gate
	pulumi up --stack $(STACK) --policy-pack policies

## After `make up`: is the Cloud Run -> connector -> Redis path really open? (needs cloud access)
verify: $(VENV)/.installed
	$(PY) -m verify $(STACK)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy infra preflight policies/guardrails probe verify bootstrap

## Regenerate docs/stack-config.schema.json from infra/config.py.
schema: $(VENV)/.installed
	$(PY) -m infra.schema > docs/stack-config.schema.json

## Regenerate the generated policy reference in docs/policies.md from policies/guardrails.
policy-docs: $(VENV)/.installed
	$(PY) policies/regen_docs.py

## Regenerate every generated doc: the JSON Schema, the policy tables, the config key reference
## (docs/config.md) and the stack-output table (README.md). Tests fail when any is stale.
docs: schema policy-docs
	$(PY) -m infra.docgen

## Regenerate the per-stack inventories under tests/inventory/ (and tests/inventory/variants/ for
## the config variants in tests/variants/) from the mock run, and the generated docs that list the
## stacks (README's stacks table): a new stack is one Pulumi.<name>.yaml plus `make inventory`.
inventory: $(VENV)/.installed
	$(PY) -m tests.inventory --write
	$(PY) -m infra.docgen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Benchmarks (figures, not asserts): gate latency, scaling, deploy critical path, state diff.
## The test suite's own time only when asked: `make bench SUITE=1` (it reruns every test).
bench: $(VENV)/.installed redis-server bytecode
	$(PY) -m bench $(if $(SUITE),--suite)

## Checkov (bridgecrewio/checkov) beside the import floor and the gate, each stack written as a
## Terraform JSON plan. Checkov goes into its own bench/.venv-checkov (from PyPI, first run only).
bench-checkov: $(VENV)/.installed
	$(PY) -m bench.checkov
