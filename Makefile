# Two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export QT_QPA_PLATFORM ?= offscreen
export PYQTGRAPH_QT_LIB := PySide6

.PHONY: test lint types layers pytest demo bench package smoke clean system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check app drivers tests bench
	$(BIN)/ruff format --check app drivers tests bench

types: $(STAMP)
	$(BIN)/mypy

# The layers (pyproject.toml [tool.importlinter]): domain <- store <- station <- chairs <- ui, export handed
# its settings, drivers knowing nothing of the app, no cycles. import-linter sees imports inside functions.
layers: $(STAMP)
	$(BIN)/lint-imports --no-logo

# The suite on several processes (pytest-xdist). Each test is independent (own tmp folder, own ports from
# a per-worker band: tests/ports.py); `--dist loadgroup` keeps tests marked xdist_group together.
# Many tests wait on pumps, brokers and subprocesses rather than compute: 4 workers overlap those waits on
# 2 cores (measured no slower than 2 here); TEST_WORKERS=1 runs serially.
TEST_WORKERS ?= 4
pytest: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

test: system-packages lint types layers pytest

# Debian/Ubuntu libraries Qt needs (packaging/system-packages.txt): installed when root, else the command.
system-packages:
	@sh packaging/ensure-system-packages.sh

# The demo opens a real window: it keeps the platform the desktop gives it.
demo: system-packages $(STAMP)
	QT_QPA_PLATFORM= $(BIN)/chairside --demo 6

# The short benches (minutes); the ~12-minute soak and kill/restart runs have their own targets.
LONG_BENCHES := bench/soak.py bench/kill_restart.py
bench: $(STAMP)
	@for script in $(filter-out $(LONG_BENCHES),$(wildcard bench/*.py)); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# A one-folder build with PyInstaller (not part of `make test`), and its smoke test.
package: $(STAMP)
	$(BIN)/python -m pip install --quiet pyinstaller
	$(BIN)/pyinstaller --noconfirm --log-level WARN packaging/chairside.spec

smoke: package
	bash packaging/smoke-test.sh dist/chairside/chairside

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist

.PHONY: soak
soak: $(STAMP)
	$(BIN)/python bench/soak.py

.PHONY: kill-restart
kill-restart: $(STAMP)
	$(BIN)/python bench/kill_restart.py
