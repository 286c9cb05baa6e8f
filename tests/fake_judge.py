"""Replies for FakeOpenAI that play an LLM judge in JSON mode (how ragas asks, through instructor): the reply is an
instance of the JSON schema the request carries, with every verdict-like integer set to `verdict`."""

from __future__ import annotations

import json


def _instance(schema: dict, defs: dict, verdict: int):
    if "$ref" in schema:
        return _instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, verdict)
    if "anyOf" in schema:
        return _instance(schema["anyOf"][0], defs, verdict)
    kind = schema.get("type")
    if kind == "object":
        return {name: _instance(sub, defs, verdict) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_instance(schema.get("items", {"type": "string"}), defs, verdict)]
    if kind == "integer":
        return verdict
    if kind == "number":
        return float(verdict)
    if kind == "boolean":
        return bool(verdict)
    return "A statement from the answer."


def judge(verdict: int = 1):
    def reply(request: dict) -> str:
        system = next(m["content"] for m in request["messages"] if m["role"] == "system")
        schema = json.loads(system[system.index("{") : system.rindex("}") + 1])
        return json.dumps(_instance(schema, schema.get("$defs", {}), verdict))

    return reply
