"""A local fake of an OpenAI-compatible chat completions server, over real HTTP on 127.0.0.1.

`POST /v1/chat/completions` records the request and answers a chat completion whose message
content is `FakeOpenAI.story` as JSON (the topic of the user message is put in the body, so a
test can see it went through). Queue `(status, content type, body)` tuples on `answers` to
answer those instead, in order. Run on its own with
`python -m tests.fakes.openai_server --port 0` (prints its base URL).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import BackgroundServer, FakeHandler, QuietServer


def completion(content: str, finish_reason: str = "stop", model: str = "fake-model") -> bytes:
    """A chat completion answer with one choice whose message content is `content`."""
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
    ).encode()


@dataclass
class RecordedRequest:
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class FakeOpenAI:
    """Behaviour and record of the fake; change them between or during tests."""

    story: dict[str, str] = field(
        default_factory=lambda: {
            "title": "Lena Haddad, 61: breathless on the stairs",
            "body": "Lena Haddad, 61, a retired librarian, comes to the clinic because the "
            "stairs to her flat leave her breathless.",
            "image_generation_prompt": "Photorealistic portrait of a 61-year-old woman with "
            "short grey hair in a sunlit clinic waiting room, calm, 85mm lens.",
        }
    )
    answers: list[tuple[int, str, bytes]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_for(self, body: Any) -> tuple[int, str, bytes]:
        with self.lock:
            if self.answers:
                return self.answers.pop(0)
        story = dict(self.story)
        messages = body.get("messages", []) if isinstance(body, dict) else []
        user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
        if "Topic: " in user:
            topic = user.split("Topic: ", 1)[1].split(".", 1)[0]
            story["body"] += f" (Topic: {topic}.)"
        return 200, "application/json", completion(json.dumps(story))


class _Server(QuietServer):
    fake: FakeOpenAI


class _Handler(FakeHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with fake.lock:
            fake.requests.append(RecordedRequest(self.path, body, dict(self.headers.items())))
        if self.path != "/v1/chat/completions":
            self._send(404, "application/json", b'{"error": {"message": "not found"}}')
            return
        self._send(*fake.answer_for(body))


class OpenAIServer(BackgroundServer):
    """A running fake: `base_url` for `stories.base_url`, `fake` to steer and inspect."""

    def __init__(self, fake: FakeOpenAI | None = None, port: int = 0) -> None:
        self.fake = fake or FakeOpenAI()
        server = _Server(("127.0.0.1", port), _Handler)
        server.fake = self.fake
        super().__init__(server)
        self.base_url = f"{self.origin}/v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with OpenAIServer(port=args.port) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
