# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench locales extract clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) locales

# Compiled catalogues (.mo) are built here, never committed; fuzzy entries are left out.
locales: $(STAMP)
	$(BIN)/pybabel compile --statistics -d locales -D ribambelle

# After changing user-facing strings: refresh the template and the catalogues, translate the
# new or fuzzy entries of locales/*/LC_MESSAGES/ribambelle.po, then `make test`. The mapping is
# babel.cfg; the keywords are those of dialogs/i18n.py (tests/unit/test_translations.py too).
BABEL_KEYWORDS := --no-default-keywords --keyword=_ --keyword=n_:1,2 --keyword=N_

extract: $(STAMP)
	$(BIN)/pybabel extract --mapping-file=babel.cfg $(BABEL_KEYWORDS) \
		--add-comments=TRANSLATORS: --sort-by-file --add-location=file \
		--project=Ribambelle --copyright-holder="the Ribambelle authors" \
		--output-file=locales/ribambelle.pot .
	$(BIN)/pybabel update --input-file=locales/ribambelle.pot -d locales -D ribambelle \
		--previous --ignore-obsolete

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
