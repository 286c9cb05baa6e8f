#!/usr/bin/env bash
# `make run-llm`: the local SmolLM2 server on 127.0.0.1:8081, and `cairn serve` with it as the answer generator.
set -euo pipefail
port="${CAIRN_LOCAL_LLM_PORT:-8081}"
.venv-llm/bin/python scripts/llm_server.py "$port" > .cairn-llm-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "the LLM server did not start; see .cairn-llm-server.log" >&2; exit 1; }
  sleep 0.5
done
echo "local LLM (smollm2-135m) at http://127.0.0.1:$port/v1"
CAIRN_ANSWER__GENERATOR=llm CAIRN_LLM__BASE_URL="http://127.0.0.1:$port/v1" CAIRN_LLM__MODEL=smollm2-135m \
  CAIRN_LLM__API_KEY=local .venv/bin/cairn serve --ingest corpora
