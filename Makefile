# The newest python3.x on PATH that runs and is 3.11 or later (a pyenv shim of a version not
# selected does not run, so it is skipped). Choose another with `make test PY=python3.12`.
PY ?= $(shell for n in $$(seq 40 -1 11); do python3.$$n -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	>/dev/null 2>&1 && { echo python3.$$n; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions with hashes, resolved for every Python from 3.11 up (`make lock` after changing
# dependencies in pyproject.toml). The dev lock is the runtime lock plus the dev tools.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet

.PHONY: run test lint lock bench clean-data

$(BIN)/python:
	@test -n "$(PY)" || { echo "need python3.11 or newer on PATH"; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "need Python 3.11 or newer ($(PY))"; exit 1; }
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/skillpass run

# One pytest-xdist worker per core; a module's tests stay on one worker (loadscope, with the scope
# made in tests/conftest.py), so a module's fixtures (a platform of real processes, a browser) start once.
# Each worker has its own PostgreSQL.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadscope

# Lint, format, types and layering: each fails the build (issue 8).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict services gateway skillpass bench
	$(BIN)/lint-imports

# Re-resolves the locks from pyproject.toml, keeping every pin that still fits (needs PyPI).
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	$(UV_COMPILE) -o $(LOCK)
	$(UV_COMPILE) --extra dev -c $(LOCK) -o $(DEV_LOCK)

bench: $(STAMP)
	$(BIN)/python -m bench

clean-data:
	rm -rf .data
