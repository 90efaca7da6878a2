# proctorhub — the two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1
export PROCTORHUB_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test reliability bench install dev lint lock clean help

help:
	@echo "make run   - install, migrate, load demo data, serve on http://$(HOST):$(PORT)"
	@echo "make test  - install dev deps, run the suite on SQLite, then on PostgreSQL"
	@echo "make reliability - full reliability suite: 5 min load on PostgreSQL, 1000 fuzz cases each"
	@echo "make bench - benchmark on SQLite and PostgreSQL: table + bench/results/<date>-<db>.json"
	@echo "make lint  - ruff"
	@echo "make lock  - re-pin requirements/*.txt from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "proctorhub needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements/lock.txt pyproject.toml
	$(BIN)/pip install -q -r requirements/lock.txt
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements/dev-lock.txt
	$(BIN)/pip install -q -r requirements/dev-lock.txt
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

run: install
	$(BIN)/proctorhub migrate --verbosity 0
	$(BIN)/proctorhub demo
	@echo ""
	@echo "proctorhub is starting on http://$(HOST):$(PORT)"
	@echo "  API docs (Swagger UI): http://$(HOST):$(PORT)/api/docs/"
	@echo "  OpenAPI schema:        http://$(HOST):$(PORT)/api/schema/"
	@echo "  Staff sign-in:         http://$(HOST):$(PORT)/accounts/login/"
	@echo "  Staff pages: http://$(HOST):$(PORT)/staff/"
	@echo "  Admin:                 http://$(HOST):$(PORT)/admin/"
	@echo "  Demo logins:           staff / staff-demo-password (course staff), admin / admin-demo-password"
	@echo "  API token for an LMS:  $(BIN)/proctorhub create-api-client my-lms --scope lms"
	@echo ""
	$(BIN)/proctorhub serve --bind $(HOST):$(PORT) --no-migrate

test: dev
	PYTHON=$(BIN)/python scripts/run-tests.sh

# Full mode of tests/reliability (`make test` runs the same tests in short mode: 30 s, 150 cases,
# webhook receiver down 10 s).
RELIABILITY_SECONDS  ?= 300
RELIABILITY_EXAMPLES ?= 1000
RELIABILITY_RECEIVER_DOWN_SECONDS ?= 60
reliability: dev
	RELIABILITY_SECONDS=$(RELIABILITY_SECONDS) RELIABILITY_EXAMPLES=$(RELIABILITY_EXAMPLES) \
		RELIABILITY_RECEIVER_DOWN_SECONDS=$(RELIABILITY_RECEIVER_DOWN_SECONDS) \
		PYTHON=$(BIN)/python scripts/run-tests.sh tests/reliability

# Review callbacks over HTTP (gunicorn, 2 workers) and in-process, SQL per callback, the raw
# floor, lifecycle, outbox backlog drain, growth at 10k/100k attempts. Full run with the 1M point:
#   make bench BENCH_ARGS="--sizes 10000,100000,1000000"
BENCH_ARGS ?= --quick --growth
bench: dev
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: dev
	$(BIN)/ruff check src tests

lock: dev
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements/lock.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --extra dev --no-emit-index-url --no-emit-find-links -o requirements/dev-lock.txt pyproject.toml

clean:
	rm -rf $(VENV) var
