# Cairn: `make run` starts the API on the embedded profile with corpora/ ingested; `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export OMP_NUM_THREADS := 1

.PHONY: install services system-tools llm-venv run-llm test test-fast run bench-ingest bench-latency bench-scale bench-memory profile reliability load soak soak-long eval-chunking eval-ragas eval-beir eval-abstention calibrate bench-followups clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test]'
	# unstructured's PDF code imports a few modules of unstructured-inference; its own requirements pull
	# torchvision, which breaks transformers beside the CPU torch wheel. See pyproject.toml.
	$(PIP) install -q --no-deps unstructured-inference==1.6.14
	touch $@

services:
	bash scripts/ensure_services.sh

# The tests' real LLM server: cyllama's llama.cpp server with SmolLM2-135M in a Python 3.12 virtualenv.
llm-venv:
	bash scripts/ensure_llm_venv.sh .venv-llm

# Run Cairn with that local model writing the answers (no account anywhere; it is small and often wrong, and every
# sentence it writes is checked against its sources).
run-llm: install llm-venv
	bash scripts/run_llm.sh

# Tesseract (OCR), LibreOffice (legacy Office conversion) and Chromium (the console's browser tests) from Debian's
# packages, when missing.
system-tools:
	bash scripts/ensure_system_tools.sh --browser

# The layers first (import-linter contracts in pyproject.toml): a broken layer fails before any test runs.
test: install services system-tools llm-venv
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

test-fast: install services system-tools
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow"

run: install
	bash scripts/ensure_system_tools.sh --best-effort
	$(VENV)/bin/cairn serve --ingest corpora

bench-ingest: install
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	$(PY) benchmarks/ingest_scifact.py --llamaindex

SCIFACT ?= ../shared/data/beir/scifact
CHUNKING ?= ../shared/data/chunking

# Quality figures quoted in the README (the SciFact index is built once under .cairn/eval and reused).
eval-chunking: install
	$(VENV)/bin/cairn eval chunking $(CHUNKING) --out eval-results/chunking

eval-ragas: install
	$(VENV)/bin/cairn eval ragas $(CHUNKING) --out eval-results/ragas

eval-beir: install
	$(VENV)/bin/cairn eval beir $(SCIFACT) --modes dense,sparse,hybrid --out eval-results/beir

eval-abstention: install
	$(VENV)/bin/cairn eval abstention $(SCIFACT) --out eval-results/abstention

# Refit the answer confidence's calibration on SciFact train claims and the chunking benchmark (chat logs fitted on,
# the other corpora held back) and ship it as Cairn's default (retrieval/calibration.json).
calibrate: install
	$(VENV)/bin/cairn calibrate $(SCIFACT) $(CHUNKING) --out eval-results/calibration --write retrieval/calibration.json

# Follow-up questions made self-contained against the same questions asked whole (retrieval recall of the gold span).
bench-followups: install
	$(PY) benchmarks/followups.py

# Answers with the defaults and, in the same run, with the two throughput settings beside them (sentences holding
# under half of the best one's question words not scored; 8 sentences shortlisted instead of 10): more answers per
# second, slightly lower answer quality (benchmarks/README.md).
bench-latency: install
	$(PY) benchmarks/answer_latency.py --variants "default;scored_share=0.5;scored_sentences=8"

# How search and answer latency grow with the index: 10k, 100k and 1M chunks side by side, indexes kept under
# .cairn/bench (building the 1M one takes most of an hour the first time).
bench-scale: install
	$(PY) benchmarks/answer_latency.py --chunks 10000,100000,1000000 --out benchmarks/results/answer_latency_scale.json

# Memory of a `cairn worker` (Redis, Postgres) while it ingests, then of `cairn serve` while it answers.
bench-memory: install services
	$(PY) benchmarks/memory.py

# Where the time of search, answer and ingesting a document goes (cProfile, grouped by what the time is spent on).
profile: install
	$(PY) benchmarks/profile_paths.py

# Locust against `cairn serve` on loopback (search, answer, upload); the soak runs 5 minutes and must have no error.
load: install
	$(PIP) install -q -c constraints.txt -e '.[load]'
	$(PY) benchmarks/load_test.py --duration 60

soak: install
	$(PIP) install -q -c constraints.txt -e '.[load]'
	$(PY) benchmarks/load_test.py --duration 300 --out benchmarks/results/soak_test.json

# 30 minutes of search, answer, upload and delete at a steady rate: p99 per route per 5-minute window, RSS every 10 s.
soak-long: install
	$(PIP) install -q -c constraints.txt -e '.[load]'
	$(PY) benchmarks/load_test.py --duration 1800 --deletes 1 --window-s 300 --sample-s 10 --warmup-s 300 \
		--out benchmarks/results/soak_long.json

# SIGKILL the process that ingests or deletes at chosen points (each stage, the staged-to-live swap, a delete), 50
# times on each profile (every round checks that the catalog, the index, the jobs and the uploads agree), then the
# fault scenarios (concurrent uploaders, Redis and Postgres restarts, a full disk...): benchmarks/results/reliability.json.
reliability: install services
	$(PY) benchmarks/stage_kills.py --profile both --kills 50
	$(PY) benchmarks/reliability.py
	$(PY) benchmarks/broken_files.py --count 600

clean:
	rm -rf $(VENV) .cairn
