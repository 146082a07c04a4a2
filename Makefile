# The logic lives in hack/*.sh; these targets only name it. `make help` lists them.
# Extra ansible-test arguments: make sanity ARGS="--test pep8"

ARGS ?=
# make bench QUICK=1: every benchmark once at small sizes (what make test runs)
QUICK ?=

.PHONY: help venv test sanity units integration lint build-check changelog-lint kubesim-test core-line demo bench clean

help:
	@echo "make demo            run the main job against the in-repo emulator (kubesim)"
	@echo "make test            everything CI runs (stages below), ends with 'N passed, N failed'"
	@echo "make venv            create/update .venv (idempotent; prerequisite of everything)"
	@echo "make sanity|units|integration|lint|build-check|changelog-lint|kubesim-test  one stage"
	@echo "make core-line LINE=2.16 STAGES='sanity units integration'  one ansible-core line in .venv-core-LINE"
	@echo "make bench           benchmarks: this collection vs kubernetes.core vs kubectl, writes docs/benchmarks.md"
	@echo "make bench QUICK=1   every benchmark once at small sizes (a make test stage)"
	@echo "make clean           remove test output and the ansible-test copy"

venv:
	@hack/venv.sh

test:
	@hack/test-all.sh

sanity: venv
	@hack/ansible-test.sh sanity $(ARGS)

units: venv
	@hack/ansible-test.sh units $(ARGS)

integration: venv
	@hack/integration.sh $(ARGS)

lint: venv
	@hack/lint.sh

build-check: venv
	@hack/build-check.sh

changelog-lint: venv
	@hack/changelog-lint.sh

kubesim-test: venv
	@hack/kubesim-test.sh $(ARGS)

# One ansible-core line in its own venv: make core-line LINE=2.16 STAGES="sanity units integration"
LINE ?= 2.21
STAGES ?= units
core-line: venv
	@hack/core-line.sh $(LINE) $(STAGES)

demo: venv
	@hack/demo.sh

bench:
	@QUICK=$(QUICK) hack/bench.sh

clean:
	rm -rf .tmp/collections tests/output .ansible
