"""Locust users for `benchmarks/load_test.py`: a mix of search, answer and upload against a running Cairn API.

Reads CAIRN_LOAD_KEY (an editor key) and CAIRN_LOAD_QUESTIONS (a JSON file of questions)."""

from __future__ import annotations

import json
import os
import random
import uuid

from locust import HttpUser, between, task

QUESTIONS = json.loads(open(os.environ["CAIRN_LOAD_QUESTIONS"], encoding="utf-8").read())
HEADERS = {"Authorization": f"Bearer {os.environ['CAIRN_LOAD_KEY']}"}


class Reader(HttpUser):
    wait_time = between(0.5, 2.0)

    @task(6)
    def search(self) -> None:
        self.client.post("/v1/search", json={"query": random.choice(QUESTIONS), "top_k": 10}, headers=HEADERS,
                         name="/v1/search")

    @task(3)
    def answer(self) -> None:
        self.client.post("/v1/answer", json={"question": random.choice(QUESTIONS)}, headers=HEADERS, name="/v1/answer")

    @task(1)
    def upload(self) -> None:
        note = f"Load-test note {uuid.uuid4()}: {random.choice(QUESTIONS)} The answer is under review.".encode()
        self.client.post("/v1/documents", files=[("file", (f"note-{uuid.uuid4().hex[:8]}.txt", note, "text/plain"))],
                         headers=HEADERS, name="/v1/documents")
