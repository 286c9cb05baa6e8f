"""The routes the console reads besides the rest of the API: a document's text, the caller, the eval datasets, and
the tags and chunk counts of the document list; the console's files and offline docs are served by the app."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import SHARED_DATA, open_root, wait_status


def test_text_me_datasets_and_the_list(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", eval={"datasets_dir": SHARED_DATA}, _env_file=None)
    with open_root(settings, bge, parser) as root, TestClient(create_app(root)) as client:
        first = client.post("/v1/documents", files=[("file", ("note.txt", b"Moss grows on the north side of trees."))],
                            data={"metadata": json.dumps({"tags": ["botany", "field"]})})
        wait_status(client, first.json()["status_url"])
        document_id = first.json()["documents"][0]["document_id"]
        assert client.get("/v1/documents").json()["documents"][0]["tags"] == ["botany", "field"]
        second = client.put(f"/v1/documents/{document_id}", files=[("file", ("note.txt", b"Lichen is a fungus with an alga."))])
        wait_status(client, second.json()["status_url"])

        (listed,) = client.get("/v1/documents").json()["documents"]
        assert listed["chunks"] == 1 and listed["version"] == 2 and listed["tags"] == []  # the new version's labels
        text = client.get(f"/v1/documents/{document_id}/text").json()
        assert (text["version"], text["text"]) == (2, "Lichen is a fungus with an alga.")
        assert client.get(f"/v1/documents/{document_id}/text?version=1").json()["text"] == "Moss grows on the north side of trees."
        assert client.get(f"/v1/documents/{document_id}/text?version=7").status_code == 404
        assert client.get("/v1/documents/nope/text").status_code == 404

        assert client.get("/v1/me").json() == {"tenant": "default", "role": "admin", "key_id": None, "auth_required": False}
        assert client.get("/v1/drift").json()["status"] == "insufficient_data"  # the Operations view's drift
        datasets = client.get("/v1/evals/datasets").json()["datasets"]
        assert {"dataset": "chunking", "suite": "chunking"} in datasets

        assert "console.js" in client.get("/console/").text
        docs = client.get("/docs").text
        assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200

        key = client.post("/v1/keys", json={"name": "other tenant? no: a reader", "role": "reader"}).json()["key"]
        reader = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/me", headers=reader).json() | {"key_id": None} == {
            "tenant": "default", "role": "reader", "key_id": None, "auth_required": True}
        assert client.get("/v1/me").status_code == 401  # keys exist: the API is closed
        assert client.get("/v1/evals/datasets", headers=reader).status_code == 403
