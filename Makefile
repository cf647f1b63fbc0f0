# alp — the README's commands. `make up` and `make test` work on a brand-new machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Keep pip away from the machine's local CPU-only torch wheel (find-links): PyPI wheels only.
PIP := PIP_FIND_LINKS= $(VENV)/bin/pip --isolated --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install up demo test test-fast lint format bench migrate clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev]"
	touch $@

up: install  ## start API + a gpu and an io worker with embedded SQLite/broker; prints URL and key
	$(VENV)/bin/alp up --host $(HOST) --port $(PORT)

demo: install  ## same, plus a synthetic demo pool with a simulated annotator
	$(VENV)/bin/alp up --host $(HOST) --port $(PORT) --demo

migrate: install
	$(VENV)/bin/alp migrate

test: install  ## the whole suite (CI runs this)
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_labelstudio.sh >/dev/null
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install  ## unit + API tests only
	$(PY) -m pytest tests/unit tests/api $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check alp api worker models acquisition simulation tests bench

format: install
	$(VENV)/bin/ruff format alp api worker models acquisition simulation tests bench

bench: install
	@for b in ingest train_step score cycle dashboard labelstudio_push; do \
	  echo "== bench/$$b.py"; $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) alp-data test-output .pytest_cache
