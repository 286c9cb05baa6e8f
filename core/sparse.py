"""Client-side BM25 sparse vectors (Qdrant's own Bm25 encoder, no download); the IDF part is applied by Qdrant."""

from __future__ import annotations

import qdrant_edge as qe


class Bm25Encoder:
    """English tokenisation, stopwords and Snowball stemming. k1/b follow Anserini's BEIR settings (0.9, 0.4)."""

    model_id = "bm25-en-k0.9-b0.4"

    def __init__(self, k: float = 0.9, b: float = 0.4, avg_len: float = 180.0):
        self._model = qe.Bm25(qe.Bm25Config(k=k, b=b, avg_len=avg_len, language="english"))

    def encode_document(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._model.embed_document(text)
        return list(vector.indices), list(vector.values)

    def encode_query(self, text: str) -> tuple[list[int], list[float]]:
        vector = self._model.embed_query(text)
        return list(vector.indices), list(vector.values)
