"""Locust users for `benchmarks/load_test.py`: a mix of search, answer, upload and delete against a running Cairn API.

Reads CAIRN_LOAD_KEY (an editor key), CAIRN_LOAD_QUESTIONS (a JSON file of questions) and, if set, CAIRN_LOAD_LOG
(a file that gets one line per request: time, route, milliseconds, error), CAIRN_LOAD_DELETES (the delete task's
weight; 0 by default)."""

from __future__ import annotations

import json
import os
import random
import time
import uuid

from locust import HttpUser, between, events, task

QUESTIONS = json.loads(open(os.environ["CAIRN_LOAD_QUESTIONS"], encoding="utf-8").read())
HEADERS = {"Authorization": f"Bearer {os.environ['CAIRN_LOAD_KEY']}"}
DELETES = int(os.environ.get("CAIRN_LOAD_DELETES", "0"))
LOG = open(os.environ["CAIRN_LOAD_LOG"], "a", buffering=1, encoding="utf-8") if os.environ.get("CAIRN_LOAD_LOG") else None


@events.request.add_listener
def record(request_type, name, response_time, response_length, exception, **_) -> None:
    if LOG is not None:  # per-request lines: the soak reports p99 per route per time window
        LOG.write(json.dumps([round(time.time(), 3), name, round(response_time, 2), repr(exception) if exception else None]) + "\n")


class Reader(HttpUser):
    wait_time = between(0.5, 2.0)

    @task(6)
    def search(self) -> None:
        self.client.post("/v1/search", json={"query": random.choice(QUESTIONS), "top_k": 10}, headers=HEADERS,
                         name="/v1/search")

    @task(3)
    def answer(self) -> None:
        self.client.post("/v1/answer", json={"question": random.choice(QUESTIONS)}, headers=HEADERS, name="/v1/answer")

    def on_start(self) -> None:
        self.notes: list[str] = []  # ids of the notes this user uploaded, oldest first

    @task(1)
    def upload(self) -> None:
        note = f"Load-test note {uuid.uuid4()}: {random.choice(QUESTIONS)} The answer is under review.".encode()
        response = self.client.post("/v1/documents", files=[("file", (f"note-{uuid.uuid4().hex[:8]}.txt", note, "text/plain"))],
                                    headers=HEADERS, name="/v1/documents")
        if response.ok:
            self.notes += [d["document_id"] for d in response.json()["documents"] if d["document_id"]]

    @task(DELETES)
    def delete(self) -> None:
        """Deletes this user's oldest note once it is indexed (a note still queued is not in the catalog yet)."""
        if not self.notes:
            return
        with self.client.get(f"/v1/documents/{self.notes[0]}", headers=HEADERS, name="/v1/documents/{id}",
                             catch_response=True) as found:
            if found.status_code == 404:
                found.success()  # not indexed yet: deleted on a later turn
                return
        if found.ok:
            self.client.delete(f"/v1/documents/{self.notes.pop(0)}", headers=HEADERS, name="DELETE /v1/documents/{id}")
