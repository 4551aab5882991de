# One command to set up and run the demo, one to set up and run every check.
# Both create .venv on first use and reinstall when pyproject.toml changes, and
# compile the modules setup.py lists (mypyc) again whenever one of them changes.

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint fuzz bench screenshots clean

# The dependencies, and the package as pure Python (compiled by the next rule).
$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 'setuptools>=77'
	WARROOM_PURE_PYTHON=1 $(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The modules setup.py compiles (its COMPILED list), built in place with the venv's
# mypy. A compiled module shadows its .py: relay/__init__.py refuses a build older
# than its sources (pure Python, with a warning), and this rule rebuilds it.
NATIVE := $(shell grep -o '"relay/[a-z_/]*\.py"' setup.py | tr -d '"')
$(VENV)/.native: $(VENV)/.installed $(NATIVE)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: $(VENV)/.native
	$(BIN)/warroom demo

lint: $(VENV)/.installed
	$(BIN)/ruff check relay tui tests bench scripts setup.py
	$(BIN)/ruff format --check relay tui tests bench scripts setup.py
	$(BIN)/mypy --strict relay tui

# xterm.js headless, the terminal model's oracle (tests/relay/terminal/test_terminal_oracle.py),
# pinned by tests/oracle/package-lock.json; installed when npm is here.
ORACLE = tests/oracle/node_modules/.package-lock.json
$(ORACLE): tests/oracle/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/oracle && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the xterm.js oracle tests will be skipped (they fail under CI=true)"; fi

test: lint $(ORACLE) $(VENV)/.native
	$(BIN)/python -m pytest -q

# Long runs: the property tests with the "fuzz" hypothesis profile (fresh random
# examples, many more of them: tests/conftest.py), and the TUI monkey with many
# more steps. Runs for a long while; a failure prints what reproduces it.
FUZZ_TESTS ?= tests/relay/masking/test_masking_properties.py \
	tests/relay/masking/test_masking_text.py tests/relay/core/test_message_properties.py \
	tests/relay/terminal/test_terminal_properties.py tests/relay/terminal/test_terminal_parser.py \
	tests/relay/terminal/test_terminal_oracle.py tests/relay/core/test_session_walk.py \
	tests/relay/cli/test_cli_no_traceback.py tests/tui/test_tui_access_list.py
fuzz: $(VENV)/.native $(ORACLE)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q $(FUZZ_TESTS)
	@echo "the TUI monkey: its seed is printed; WARROOM_FUZZ_SEED=N replays it"
	WARROOM_FUZZ=1 $(BIN)/python -m pytest -q -s tests/tui/test_tui_monkey.py

bench: $(VENV)/.native
	$(BIN)/python -m bench

screenshots: $(VENV)/.native
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build relay/native.json
	find relay -name '*.so' -delete
