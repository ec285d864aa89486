# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench locales clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) locales

# Compiled catalogues are built here, never committed.
locales: $(STAMP)
	@if ls locales/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
		$(BIN)/pybabel compile --statistics -d locales -D ribambelle; fi

run: install
	$(BIN)/ribambelle db upgrade
	$(BIN)/ribambelle demo
	$(BIN)/ribambelle serve --host 127.0.0.1 --port 8080

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check bot dialogs booking tests bench

bench: install
	$(BIN)/python bench/rush.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache
