# The two commands: `make run` serves the app on embedded defaults,
# `make test` runs the whole suite. Both install what is missing first.
.PHONY: setup run test lint bench

VENV := .venv/bin

setup:
	bash scripts/setup.sh

run: setup
	$(VENV)/docservice init --demo
	$(VENV)/docservice serve --host 127.0.0.1 --port 5000

test: setup
	$(VENV)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/ruff check docservice tests bench

bench: setup
	$(VENV)/python bench/generate.py
