# The two commands: `make run` serves the app on embedded defaults,
# `make test` runs the lint (below), then the whole suite. Both install what is missing first.
.PHONY: setup run test lint bench i18n

VENV := .venv/bin

setup:
	bash scripts/setup.sh

run: setup
	$(VENV)/docservice init --demo
	$(VENV)/docservice serve --host 127.0.0.1 --port 5000

test: setup lint
	$(VENV)/python -m pytest -q $(PYTEST_ARGS)

# The rules CI enforces (pyproject.toml): ruff, mypy --strict on docservice/, and the
# import-linter contracts (layers, pyhanko only in signing/, Flask only in web/). A failure
# stops `make test` before pytest.
lint: setup
	$(VENV)/ruff check docservice tests bench
	$(VENV)/mypy
	$(VENV)/lint-imports

# Every message of the web face (babel.cfg) into the catalogues, then compiled: run it after
# changing a page's text, translate what is new in docservice/translations/en, run it again.
# The compiled .mo files are committed, so a fresh checkout works without it.
i18n: setup
	$(VENV)/pybabel extract -F babel.cfg --no-location --sort-output --omit-header \
		-o docservice/translations/messages.pot .
	$(VENV)/pybabel update -i docservice/translations/messages.pot -d docservice/translations \
		--no-fuzzy-matching --ignore-obsolete
	$(VENV)/pybabel compile -d docservice/translations --statistics

bench: setup
	$(VENV)/python bench/generate.py
