# Everything a fresh machine needs, from python3 alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Ingest the bundled demo data (UCI Online Retail, and a made-up offer catalogue) into SQLite, train, score customers,
## and serve on 127.0.0.1:8000 (the dashboard at /dashboard),
## with the training worker beside the API (retraining asked for over the API; stopped with the server).
run: $(STAMP)
	$(BIN)/reco ingest --demo
	$(BIN)/reco ingest --demo --kind offers
	OPENBLAS_NUM_THREADS=1 $(BIN)/reco train
	OPENBLAS_NUM_THREADS=1 $(BIN)/reco score customers
	$(BIN)/reco keys add --role admin --label "make run demo"
	OPENBLAS_NUM_THREADS=1 $(BIN)/reco worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/reco serve

## Lint and run the whole test suite (SQLite and PostgreSQL).
test: $(STAMP)
	$(BIN)/ruff check .
	OPENBLAS_NUM_THREADS=1 $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

## Benchmarks on the real data in ../shared/datasets (minutes; each prints a table and a final JSON line).
bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/ingest.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/retail.py --dataset online_retail
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/retail.py --dataset dunnhumby
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/ml100k.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/churn.py --dataset online_retail
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/churn.py --dataset dunnhumby
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/clv.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/hardening.py
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/offers.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
