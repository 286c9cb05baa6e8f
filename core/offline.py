"""Switches off every hidden download and telemetry call before the libraries that make them are imported."""

import importlib.util
import os
from pathlib import Path


def _tiktoken_cache() -> str:
    # llama-index-core ships the cl100k_base and o200k_base files; found without importing the package.
    spec = importlib.util.find_spec("llama_index.core")
    assert spec is not None and spec.origin is not None, "llama-index-core is not installed"
    return str(Path(spec.origin).parent / "_static" / "tiktoken_cache")


def configure_offline() -> None:
    defaults = {
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
        "UNSTRUCTURED_DISABLE_NOTICE": "1",
        "RAGAS_DO_NOT_TRACK": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = _tiktoken_cache()
