"""A fake Recraft API for benchmarks: one asyncio process on 127.0.0.1.

Run it as its own process (`python -m bench.fake_recraft`, which prints its origin on the
first line of stdout), so the CPU it spends is not counted as the system's: `GET /_stats`
reports its own CPU seconds, requests and bytes sent.

One event loop serves every connection (HTTP/1.1 keep-alive, TCP_NODELAY, a deep accept
backlog): hundreds of clients each waiting `L` seconds cost it nothing but a timer, where
a thread per connection would compete with the system under test for the 2 cores.

Routes (the latency and the image kind are in the path, so one fake serves every scenario):

- `POST /<kind>/<latency_s>/v1/images/generations`: waits `latency_s`, answers like
  Recraft (`{created, credits, data: [{image_id, url}]}`) with the URL of an image below.
- `GET /img/<kind>/<n>`: a real PNG of random noise (so it does not compress away):
  `u` is about 1 MB and unique per request (a `tEXt` chunk carries `n`, so every stored
  file has its own sha256), `s` is the same 1 MB image every time (storage keeps one copy),
  `big` is a PNG of `--big-mb` MB, made on first use or by `POST /_prepare_big`.
- `GET /_stats`: JSON counters and this process's CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import resource
import struct
import time
import zlib
from dataclasses import dataclass, field

from PIL import Image

IMAGE_BYTES = 1_000_000
JSON = "application/json"
PNG = "image/png"
# After the 8-byte signature and the 25-byte IHDR chunk: where a tEXt chunk may go.
IHDR_END = 33


def noise_png(target_bytes: int, compress_level: int = 6) -> bytes:
    """A real RGB PNG of random noise, of about `target_bytes` bytes."""
    side = max(1, math.isqrt(target_bytes // 3))
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def text_chunk(number: int) -> bytes:
    """A PNG `tEXt` chunk naming the request: makes each served image's bytes unique."""
    data = b"n\x00" + str(number).encode()
    kind = b"tEXt"
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class FakeState:
    origin: str = ""
    big_mb: int = 40
    image: bytes = field(default_factory=lambda: noise_png(IMAGE_BYTES))
    big: bytes | None = None
    posts: int = 0
    gets: int = 0
    bytes_sent: int = 0
    connections: int = 0
    max_connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def stats(self) -> dict[str, float | int]:
        return {
            "cpu_s": cpu_seconds(),
            "posts": self.posts,
            "gets": self.gets,
            "bytes_sent": self.bytes_sent,
            "connections": self.connections,
            "max_connections": self.max_connections,
            "max_in_flight": self.max_in_flight,
            "image_bytes": len(self.image),
            "big_bytes": len(self.big) if self.big is not None else 0,
        }

    async def big_image(self) -> bytes:
        if self.big is None:
            loop = asyncio.get_running_loop()
            # Level 0: 40 MB of noise does not compress, and storing it is 10x faster.
            self.big = await loop.run_in_executor(None, noise_png, self.big_mb * 1_000_000, 0)
        return self.big


def _head(status: int, content_type: str, length: int) -> bytes:
    reason = {200: "OK", 404: "Not Found", 400: "Bad Request"}.get(status, "Error")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode("latin-1")


class Handler:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state = self.state
        state.connections += 1
        state.max_connections = max(state.max_connections, state.connections)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                await self.route(method, target, body, writer)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except ConnectionError:
            return
        finally:
            state.connections -= 1
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def send(
        self, writer: asyncio.StreamWriter, status: int, content_type: str, *parts: bytes
    ) -> None:
        length = sum(len(part) for part in parts)
        writer.write(_head(status, content_type, length))
        for part in parts:
            writer.write(part)
        self.state.bytes_sent += length

    async def route(
        self, method: str, target: str, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        state = self.state
        path = target.split("?", 1)[0].strip("/").split("/")
        if method == "POST" and len(path) == 5 and path[2:] == ["v1", "images", "generations"]:
            kind, latency = path[0], float(path[1])
            state.posts += 1
            number = state.posts
            try:
                prompt = str(json.loads(body).get("prompt", ""))
            except (ValueError, AttributeError):
                self.send(writer, 400, JSON, b'{"code":"bad_request","message":"not JSON"}')
                return
            if prompt.startswith("big:"):
                kind = "big"
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if latency > 0:
                    await asyncio.sleep(latency)
            finally:
                state.in_flight -= 1
            answer = {
                "created": int(time.time()),
                "credits": 40,
                "data": [
                    {"image_id": f"img-{number}", "url": f"{state.origin}/img/{kind}/{number}"}
                ],
            }
            self.send(writer, 200, JSON, json.dumps(answer).encode())
        elif method == "GET" and len(path) == 3 and path[0] == "img":
            state.gets += 1
            kind, name = path[1], path[2]
            if kind == "u" and name.isdigit():
                image = state.image
                self.send(
                    writer, 200, PNG, image[:IHDR_END], text_chunk(int(name)), image[IHDR_END:]
                )
            elif kind == "s":
                self.send(writer, 200, PNG, state.image)
            elif kind == "big":
                self.send(writer, 200, PNG, await state.big_image())
            else:
                self.send(writer, 404, "text/plain", b"no such image")
        elif method == "GET" and path == ["_stats"]:
            self.send(writer, 200, JSON, json.dumps(state.stats()).encode())
        elif method == "POST" and path == ["_prepare_big"]:
            await state.big_image()
            self.send(writer, 200, JSON, json.dumps(state.stats()).encode())
        else:
            self.send(writer, 404, "text/plain", b"not found")


async def serve(port: int, big_mb: int) -> None:
    state = FakeState(big_mb=big_mb)
    handler = Handler(state)
    server = await asyncio.start_server(
        handler.connection, "127.0.0.1", port, backlog=4096, limit=1 << 16
    )
    bound = server.sockets[0].getsockname()[1]
    state.origin = f"http://127.0.0.1:{bound}"
    print(state.origin, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Recraft API for benchmarks.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--big-mb", type=int, default=40, help="size of the `big` image")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.big_mb))


if __name__ == "__main__":
    main()
