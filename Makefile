# Two commands from a fresh clone: `make demo` and `make test` (`make test-fast` leaves out the slow tests).
# Both create .venv and install the package (and its test tools) the first time.
# `make docs` builds the site in docs/ into site/; `make notebook` opens the notebook in Jupyter.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DOCS_INSTALLED := $(VENV)/.installed-docs
NOTEBOOK_INSTALLED := $(VENV)/.installed-notebook
DEMO_RUN := runs/fixed-digits-demo

.PHONY: demo test test-fast bench docs notebook clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(INSTALLED)

$(DOCS_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(DOCS_INSTALLED)

$(NOTEBOOK_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[test,notebook]"
	touch $(NOTEBOOK_INSTALLED)

demo: $(INSTALLED)
	@rm -rf runs/blog-digits-demo $(DEMO_RUN)  # the demo's own runs, made again each time
	@echo "== The post's network, step for step (simplenn train --preset blog):"
	$(BIN)/simplenn train --preset blog --dataset digits --quiet --run-dir runs/blog-digits-demo
	@echo "== It ends at chance: raw 0-255 pixels and a loss summed over every image blow up the first"
	@echo "   SGD step, and every ReLU dies."
	@echo
	@echo "== The same architecture, fixed (simplenn train --preset fixed):"
	$(BIN)/simplenn train --preset fixed --dataset digits --quiet --run-dir $(DEMO_RUN)
	@echo
	@echo "== Next: make simplenn a command of this shell, then try it"
	@printf '   %-50s %s\n' ". .venv/bin/activate" "(or call .venv/bin/simplenn)"
	@printf '   %-50s %s\n' "simplenn diagnose --preset blog --dataset digits" "why the post's network fails"
	@printf '   %-50s %s\n' "simplenn report $(DEMO_RUN)" "one HTML page: $(DEMO_RUN)/report.html"
	@printf '   %-50s %s\n' "simplenn serve $(DEMO_RUN)" "draw a digit at http://127.0.0.1:8000"
	@printf '   %-50s %s\n' "make notebook" "the post's story, cell by cell, in Jupyter"
	@printf '   %-50s %s\n' "make docs" "this documentation as a site: site/index.html"

# One pytest worker a CPU (at most four), each given whole test files, so that a file's
# module fixtures are made once; `pytest FILE` alone runs in one process as usual.
PARALLEL := -n auto --maxprocesses 4 --dist loadfile

test: $(INSTALLED)
	$(BIN)/python -m pytest -q $(PARALLEL)

# The edit-test loop: all but the tests marked slow (long runs, browsers, notebooks,
# benchmarks, clusters of workers); `make test` runs those too, as CI does.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -q $(PARALLEL) -m "not slow"

bench: $(INSTALLED)
	$(BIN)/simplenn bench --dataset fashion-mnist --epochs 5 --json runs/bench.json

docs: $(DOCS_INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "site/index.html (English) and site/ko/index.html (한국어)"

notebook: $(NOTEBOOK_INSTALLED)
	@echo "opening notebooks/: simplenn.ipynb (English), simplenn.ko.ipynb (한국어)"
	$(BIN)/jupyter notebook notebooks/

clean:
	rm -rf runs site .pytest_cache .hypothesis
