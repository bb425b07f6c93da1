# The two commands of the quick start: `make demo` and `make test`.
# Everything installs into .venv; nothing outside the project is touched.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint lock bench-ingest bench-govern bench-watch bench-store bench-scale clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint requirements.lock -e '.[server,dev]'
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

# The image's exact versions: reghook[server] resolved in a clean venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[server]'
	{ sed -n '1,3p' requirements.lock; .lock-venv/bin/pip freeze --exclude reghook; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-govern: $(STAMP)
	$(BIN)/python bench/govern.py

bench-watch: $(STAMP)
	$(BIN)/python bench/watch.py

bench-store: $(STAMP)
	$(BIN)/python bench/store.py

bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .pytest_cache reghook.db reghook.db-*
