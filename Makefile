# Two commands matter: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-postgres bench lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,lint]'
	touch $(STAMP)

demo: $(STAMP)
	SHANZHI_ENV=dev $(BIN)/shanzhi demo

test: $(STAMP)
	$(BIN)/python -m pytest

# The database tests again, on PostgreSQL (needs a server; .ci/run starts one).
test-postgres: $(STAMP)
	SHANZHI_TEST_DATABASE_URL=$${SHANZHI_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -m db

# Style, formatting, strict typing and the import contracts; .ci/run fails on any finding.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Benchmarks (docs/benchmarks.md). BENCH_DATABASE=postgresql+psycopg://… adds the PostgreSQL runs.
bench: $(STAMP)
	$(BIN)/python bench/journal_post.py $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE))
	$(BIN)/python bench/claims_http.py
	$(BIN)/python bench/credit_lookup.py
	$(BIN)/python bench/rescore.py --households 100000 --postings 2000000 $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE))
	$(BIN)/python bench/voucher_race.py $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE))
	$(BIN)/python bench/roster_import.py $(if $(BENCH_DATABASE),--database $(BENCH_DATABASE))
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
