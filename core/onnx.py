"""Loading a packaged ONNX model and its tokenizer: one session per process, `threads` intra-op threads."""

from __future__ import annotations

import threading
from pathlib import Path


class OnnxModel:
    """Lazily opens `model.onnx` and `tokenizer.json` from `root()`; safe to share between threads."""

    def __init__(self, root, threads: int = 1, max_tokens: int = 512):
        self._root = root  # a callable returning the model folder, so that constructing stays cheap
        self._threads = threads
        self._max_tokens = max_tokens
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                root: Path = self._root()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                if self._threads > 1:
                    # Idle intra-op threads sleep instead of spinning: requests served at once share the cores, and
                    # spinning threads would take CPU from each other (measured: slower at concurrency 2 and 4).
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
                tokenizer.enable_truncation(self._max_tokens)
                tokenizer.enable_padding()
                self._tokenizer = tokenizer
                self._session = ort.InferenceSession(str(root / "model.onnx"), options, providers=["CPUExecutionProvider"])
        return self._session, self._tokenizer
