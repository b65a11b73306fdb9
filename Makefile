# Two entry points: `make run` (set up, then the main job) and `make test` (set up, then the tests).
# Both create .venv on first use and reuse it after. TORCH picks the torch build to install.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: run test setup bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,ray]"
	touch $@

setup: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/moebench run

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

bench: $(BIN)/.installed
	$(BIN)/moebench bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
