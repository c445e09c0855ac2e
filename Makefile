# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The transformer scorer's tests need torch; 2.13.0 is the CPU build these machines keep on
# disk. Elsewhere, `make test TORCH=` skips the extra (those tests then skip, except under
# CI=true), or point it at a CPU wheel index.
TORCH ?= torch==2.13.0
comma := ,
EXTRAS := $(if $(strip $(TORCH)),dev$(comma)transformer,dev)

.PHONY: venv demo test up down bench bench-technical bench-macro bench-prices bench-onchain bench-features bench-news bench-faults bench-summary lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "coinfill needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(strip $(TORCH)),$(PY) -m pip install --quiet $(TORCH))
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/coinfill demo

# Two workers: ~8 minutes on these 2-core machines instead of ~15. PYTEST_ARGS= runs serially.
PYTEST_ARGS ?= -n 2
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The local stack: Prefect server on 127.0.0.1:4200, a process pool and worker, blocks, rate
# limits and every deployment (infra/local/stack.sh); `make down` stops what it started.
up: $(STAMP)
	infra/local/stack.sh up

down:
	infra/local/stack.sh down

# Every bench, each as whole `coinfill` processes (own and configured Prefect API) with the
# in-flow figure beside; a bench that fails does not stop the others; the summary table last.
BENCHES := technical macro prices onchain features news faults
bench: $(STAMP)
	@failed=; for b in $(BENCHES); do $(MAKE) --no-print-directory bench-$$b || failed="$$failed $$b"; done; \
	$(PY) bench/summary.py; \
	if [ -n "$$failed" ]; then echo "benches that failed:$$failed"; exit 1; fi

bench-summary: $(STAMP)
	$(PY) bench/summary.py

bench-technical: $(STAMP)
	$(PY) bench/technical_bench.py $(BENCH_ARGS)

bench-macro: $(STAMP)
	$(PY) bench/macro_bench.py $(MACRO_BENCH_ARGS)

bench-prices: $(STAMP)
	$(PY) bench/prices_bench.py $(PRICES_BENCH_ARGS)

bench-onchain: $(STAMP)
	$(PY) bench/onchain_bench.py $(ONCHAIN_BENCH_ARGS)

bench-features: $(STAMP)
	$(PY) bench/features_bench.py $(FEATURES_BENCH_ARGS)

bench-news: $(STAMP)
	$(PY) bench/news_bench.py $(NEWS_BENCH_ARGS)

bench-faults: $(STAMP)
	$(PY) bench/faults_bench.py $(FAULTS_BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src flows expectations tests bench
	$(VENV)/bin/ruff format --check src flows expectations tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data/coinfill.db
