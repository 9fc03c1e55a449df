"""What `StorySystem.open_file` returns: the open file and its content type, which closes
the file when used as a context manager."""

from __future__ import annotations

from types import TracebackType
from typing import BinaryIO, NamedTuple, Self


class OpenedFile(NamedTuple):
    """A stored file, open for reading, and its content type.

    Use it in a `with` block, which closes the file: `with system.open_file(id) as (file,
    content_type): ...`. It still unpacks as a pair; then the caller closes the file.
    """

    file: BinaryIO
    content_type: str

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.file.close()
