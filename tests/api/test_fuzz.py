"""Property-based fuzzing of every operation from the OpenAPI document (schemathesis): whatever the input, no 5xx,
and every response (errors included) has the status and shape the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from core.settings import Settings
from tests.api.test_faults import ingest_speech
from tests.conftest import open_root

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, bge, parser):
    # Rate limits off (thousands of calls in a minute are the point here); an admin key, so every route is reached.
    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz") / "data", limits={"enabled": False}, _env_file=None)
    with open_root(settings, bge, parser) as runtime:
        ingest_speech(runtime)
        key = runtime.keys.create(settings.tenant, "admin", "fuzzer")[1]
        app = create_app(runtime)
        app.state.fuzz_headers = {"Authorization": f"Bearer {key}"}
        yield app


@pytest.mark.slow
def test_no_server_errors_and_errors_as_documented(fuzzed):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        # Valid inputs (they must work) and invalid ones (they must be refused in the documented way).
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                case.call_and_validate(headers=fuzzed.state.fuzz_headers, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:  # an operation without inputs has no invalid ones
                assert mode is GenerationMode.NEGATIVE, operation.label
