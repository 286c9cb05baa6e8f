"""The composition root: parts are chosen through the registries by the settings, built once on first use, and
replaced only through the constructor; what a root was given stays the giver's."""

from __future__ import annotations

import pytest

from api.root import Root
from core.settings import GeneratorName, Settings, VectorStoreName
from core.vectorstore.factory import VECTOR_STORES
from core.vectorstore.server import ServerVectorStore
from retrieval.generators import WRITERS
from retrieval.llm import OpenAIGenerator


def test_an_unknown_part_is_refused(settings):
    with pytest.raises(TypeError, match="no part embeder"):
        Root(settings, embeder=object())


def test_every_setting_value_has_an_implementation():
    assert set(VECTOR_STORES) == {v.value for v in VectorStoreName}
    assert set(WRITERS) == {v.value for v in GeneratorName}


def test_the_settings_choose_the_implementations(tmp_path, bge, parser):
    plain = Root(Settings(data_dir=tmp_path / "a", _env_file=None), embedding_model=bge, parser=parser)
    llm = Root(Settings(data_dir=tmp_path / "b", qdrant={"location": ":memory:"}, answer={"generator": "llm"},
                        llm={"base_url": "http://127.0.0.1:9/v1"}, _env_file=None), embedding_model=bge, parser=parser)
    try:
        assert plain.answers.llm is None and plain.settings.vector_store == VectorStoreName.EDGE
        assert isinstance(llm.answers.llm, OpenAIGenerator) and isinstance(llm.store, ServerVectorStore)
        assert plain.answers.search is plain.search and plain.search.store is plain.store  # one of each per root
    finally:
        plain.close()
        llm.close()


def test_a_given_part_is_used_and_left_open(tmp_path, bge, parser):
    store = ServerVectorStore.connect(url=None, location=":memory:", api_key=None, timeout_s=5)
    root = Root(Settings(data_dir=tmp_path / "data", _env_file=None), embedding_model=bge, parser=parser, store=store)
    assert root.ingest.store is store and root.embedder.inner is bge
    root.close()
    assert not store.collection_exists("still-open")  # usable: the root did not close what it was given
    store.close()


def test_a_process_that_only_queues_builds_no_index_and_loads_no_model(tmp_path):
    root = Root(Settings(data_dir=tmp_path / "data", _env_file=None))
    root.intake  # what an API process needs to accept uploads
    root.close()
    assert not {"store", "embedding_model", "reranker", "parser"} & set(vars(root))
