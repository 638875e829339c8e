# The README's two commands: `make demo` runs the product, `make test` runs the whole suite.
# Both create .venv, install the package with its dev extras and the npm front-end packages,
# copy the front-end files into opsloom/platform/static/vendor/ and compile the translations.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.opsloom-installed
VENDOR_STAMP := opsloom/platform/static/vendor/.copied
PYTEST_ARGS ?=

.PHONY: install demo test lint bench clean

install: $(STAMP) $(VENDOR_STAMP) translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

$(VENDOR_STAMP): node_modules/.package-lock.json scripts/vendor.py $(STAMP)
	$(BIN)/python scripts/vendor.py
	touch $(VENDOR_STAMP)

translations: $(STAMP)
	$(BIN)/pybabel -q compile -d opsloom/platform/translations

demo: install
	$(BIN)/opsloom demo

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m bench all

clean:
	rm -rf $(VENV) node_modules opsloom/platform/static/vendor .pytest_cache
