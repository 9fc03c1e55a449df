"""Portrait files on disk: their content-addressed layout and the staging area.

Files are content-addressed: `<root>/<sha256[:2]>/<sha256>`. Bytes arrive in a temporary
file under `<root>/tmp/<instance>/`, are fsynced, then renamed into place, so no partial
file is ever visible under its final name. Each process holds an exclusive lock on its
own staging directory; a directory whose lock is free belongs to a process that died,
and is swept on start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from vignette.records import StagedFile


def file_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def stored_contents(root: Path) -> Iterator[Path]:
    """Every stored file under `root` (`<sha256[:2]>/<sha256>`), staging left out."""
    for folder in root.glob("??"):
        if folder.is_dir():
            for path in folder.iterdir():
                if len(path.name) == 64 and path.name.startswith(folder.name):
                    yield path


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagingFile:
    """A temporary file being written: keeps a running sha256 and size."""

    def __init__(self, path: Path, file: IO[bytes]) -> None:
        self.path = path
        self._file = file
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        """Flush and fsync the bytes and close the file; it can then be checked and stored."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def staged(self, content_type: str) -> StagedFile:
        """The finished file, described for `StorageActor.commit`."""
        return StagedFile(str(self.path), self._hash.hexdigest(), self.size, content_type)


class Staging:
    """This process's staging directory under `<root>/tmp`, held by an exclusive lock."""

    def __init__(self, root: Path) -> None:
        self.base = root / "tmp"
        self.base.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        self._lock = (self.base / f"{name}.lock").open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.directory = self.base / name
        self.directory.mkdir()

    def sweep_abandoned(self) -> int:
        """Remove staging directories of processes that have died; return how many."""
        swept = 0
        for lock_path in self.base.glob("*.lock"):
            if lock_path.stem == self.directory.name:
                continue
            with lock_path.open("a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive
                shutil.rmtree(self.base / lock_path.stem, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
                swept += 1
        return swept

    @contextlib.contextmanager
    def new_file(self) -> Iterator[StagingFile]:
        """A fresh temporary file, removed on exit unless it was committed (renamed away)."""
        fd, name = tempfile.mkstemp(dir=self.directory, suffix=".part")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as file:
                yield StagingFile(path, file)
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        (self.base / f"{self.directory.name}.lock").unlink(missing_ok=True)
        self._lock.close()
