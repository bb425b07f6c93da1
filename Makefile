# The two commands of the quick start: `make demo` and `make test`.
# Everything installs into .venv; nothing outside the project is touched.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench-ingest bench-govern bench-watch bench-store clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/reghook demo

test: $(STAMP)
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not mlflow and not postgres and not slow"

lint: $(STAMP)
	$(BIN)/ruff check handler tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-govern: $(STAMP)
	$(BIN)/python bench/govern.py

bench-watch: $(STAMP)
	$(BIN)/python bench/watch.py

bench-store: $(STAMP)
	$(BIN)/python bench/store.py

clean:
	rm -rf $(VENV) .pytest_cache reghook.db reghook.db-*
