# Two commands from a fresh clone: `make demo` and `make test`.
# Both create .venv and install the package (and its test tools) the first time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(INSTALLED)

demo: $(INSTALLED)
	@echo "== The post's network, step for step (simplenn train --preset blog):"
	$(BIN)/simplenn train --preset blog --dataset digits --quiet
	@echo "== It ends at chance: raw 0-255 pixels and a loss summed over every image blow up the first"
	@echo "   SGD step, and every ReLU dies. (simplenn diagnose --preset blog --dataset digits shows it.)"
	@echo
	@echo "== The same architecture, fixed (simplenn train --preset fixed):"
	$(BIN)/simplenn train --preset fixed --dataset digits --quiet

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

bench: $(INSTALLED)
	$(BIN)/simplenn bench --dataset fashion-mnist --epochs 5 --json runs/bench.json

clean:
	rm -rf runs .pytest_cache .hypothesis
