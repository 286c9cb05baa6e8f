"""Retrieval: hybrid search over the index (dense + BM25 fused), filters, and (next) reranking."""
