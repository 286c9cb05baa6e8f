"""A local HTTP server that speaks OpenAI's chat-completions protocol, with the failures real endpoints have.

`reply` decides each answer from the request: a string (the assistant's text), or one of the failure modes
"slow" (sleeps past any client timeout), "500", "malformed" (a body that is not JSON), "no_choices"."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, reply=lambda request: "OK [1]"):
        self.reply = reply
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(request)
                outcome = server.reply(request)
                if outcome == "slow":
                    time.sleep(3)
                    return self._send(200, {"choices": []})
                if outcome == "500":
                    return self._send(500, {"error": {"message": "upstream exploded", "type": "server_error"}})
                if outcome == "malformed":
                    return self._send_raw(200, b"{this is not json")
                if outcome == "no_choices":
                    return self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []})
                return self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": request.get("model", "fake"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140},
                })

            def _send(self, status: int, body: dict):
                self._send_raw(status, json.dumps(body).encode())

            def _send_raw(self, status: int, raw: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
