"""Eval runs through the API: a Celery job (the in-process worker) runs a small chunking eval end to end."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import SHARED_DATA, open_root, wait_status


@pytest.fixture
def client(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", eval={"datasets_dir": SHARED_DATA}, _env_file=None)
    with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as test_client:
        yield test_client


def test_chunking_eval_runs_as_a_job(client):
    request = {
        "suite": "chunking", "dataset": "chunking",
        "options": {"variants": ["sentence-256-32"], "corpora": ["state_of_the_union"], "limit": 5},
    }
    started = client.post("/v1/evals", json=request)
    assert started.status_code == 202, started.text
    assert started.json()["status"] in ("queued", "running", "succeeded"), started.json()["error"]
    run = wait_status(client, started.json()["status_url"], done=("succeeded", "failed"), timeout_s=300)
    assert run["status"] == "succeeded", run["error"]
    variant = run["result"]["variants"]["sentence-256-32"]
    assert run["result"]["questions"] == 5 and variant["recall@k"] >= 0.8
    assert {"results.json", "report.md", "iou_budget.png"} <= set(run["files"])
    chart = client.get(f"/v1/evals/{run['id']}/files/iou_budget.png")
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"
    assert "| sentence-256-32 |" in client.get(f"/v1/evals/{run['id']}/files/report.md").text
    assert [r["id"] for r in client.get("/v1/evals").json()["runs"]] == [run["id"]]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({"suite": "chunking", "dataset": "../main"}, "no dataset"),
        ({"suite": "chunking", "dataset": "/etc"}, "no dataset"),
        ({"suite": "beir", "dataset": "chunking"}, "not a beir dataset"),
        ({"suite": "chunking", "dataset": "chunking", "options": {"variants": ["magic-256-32"]}}, "unknown chunking strategy"),
        ({"suite": "chunking", "dataset": "chunking", "options": {"modes": ["dense"]}}, "belongs to the beir suite"),
        ({"suite": "beir", "dataset": "beir/scifact", "options": {"modes": ["psychic"]}}, "unknown mode"),
        ({"suite": "vibes", "dataset": "chunking"}, "suite"),
        ({"suite": "chunking", "dataset": "chunking", "options": {"limit": 0}}, "limit"),
    ],
)
def test_bad_eval_requests_are_refused(client, request_body, message):
    response = client.post("/v1/evals", json=request_body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert client.get("/v1/evals").json()["runs"] == []  # nothing queued


def test_unknown_runs_and_files(client):
    assert client.get("/v1/evals/nope").status_code == 404
    assert client.get("/v1/evals/nope/files/report.md").json()["error"]["code"] == "not_found"


def test_no_datasets_folder_configured(runtime):
    with TestClient(create_app(runtime)) as plain:
        response = plain.post("/v1/evals", json={"suite": "chunking", "dataset": "chunking"})
    assert response.status_code == 422 and "CAIRN_EVAL__DATASETS_DIR" in response.json()["error"]["message"]


def test_runs_left_behind_by_a_stopped_server_are_recovered_at_start(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", eval={"datasets_dir": SHARED_DATA}, _env_file=None)
    with open_root(settings, bge, parser) as runtime:
        options = {"variants": ["sentence-256-32"], "corpora": ["state_of_the_union"], "limit": 2}
        died = runtime.eval_store.create(runtime.settings.tenant, "chunking", "chunking", options)
        runtime.eval_store.start(died)  # it was running when the process stopped
        lost = runtime.eval_store.create(runtime.settings.tenant, "chunking", "chunking", options)  # queued in memory
        with TestClient(create_app(runtime)) as client:
            failed = client.get(f"/v1/evals/{died}").json()
            assert failed["status"] == "failed" and failed["error"].startswith("interrupted")
            resumed = wait_status(client, f"/v1/evals/{lost}", done=("succeeded", "failed"), timeout_s=300)
            assert resumed["status"] == "succeeded", resumed["error"]
