"""StorageActor and Staging on real directories, with a real DocumentActor on SQLite."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pykka
import pytest
from peewee import Database

from tests.conftest import stored_files
from tests.fakes.images import png_bytes, webp_bytes
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.actors.storage import StorageActor, StorageProxy
from vignette.errors import StoredFileNotFound
from vignette.models import StoredFile, open_database, release_connections
from vignette.records import FileInfo, PortraitJob, PortraitStatus, StoryDraft
from vignette.storage.staging import Staging, file_path

TIMEOUT = 10


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    pykka.ActorRegistry.stop_all(timeout=10)
    database.close()
    release_connections(database)


@pytest.fixture
def document_ref(db: Database) -> pykka.ActorRef[DocumentActor]:
    return DocumentActor.start(db)


@pytest.fixture
def document(document_ref: pykka.ActorRef[DocumentActor]) -> DocumentProxy:
    return cast(DocumentProxy, document_ref.proxy())


@pytest.fixture
def storage(root: Path, document: DocumentProxy) -> StorageProxy:
    return cast(StorageProxy, StorageActor.start(root, document).proxy())


@pytest.fixture
def staging(root: Path) -> Iterator[Staging]:
    stage = Staging(root)
    yield stage
    stage.close()


def claimed_job(document: DocumentProxy) -> PortraitJob:
    """A new story whose portrait is claimed: the job a worker would store for."""
    draft = StoryDraft("A patient", "Came in with a cough.", "a portrait")
    story = document.insert_story(draft).get(timeout=TIMEOUT)
    job = document.claim_portrait(story.id).get(timeout=TIMEOUT)
    assert job is not None
    return job


def commit_portrait_bytes(
    staging: Staging,
    storage: StorageProxy,
    job: PortraitJob,
    data: bytes,
    content_type: str = "image/png",
) -> FileInfo | None:
    with staging.new_file() as file:
        file.write(data)
        file.finish()
        return storage.commit_portrait(file.staged(content_type), job).get(timeout=TIMEOUT)


def commit_bytes(
    staging: Staging,
    storage: StorageProxy,
    document: DocumentProxy,
    data: bytes,
    content_type: str = "image/png",
) -> FileInfo:
    """Store `data` as the portrait of a new story."""
    info = commit_portrait_bytes(staging, storage, claimed_job(document), data, content_type)
    assert info is not None
    return info


def final_path(root: Path, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return root / digest[:2] / digest


# Commit -----------------------------------------------------------------------------------


def test_a_staged_file_is_committed_under_its_sha256_with_its_row(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()
    digest = hashlib.sha256(data).hexdigest()

    with staging.new_file() as file:
        file.write(data[:100])
        file.write(data[100:])
        file.finish()
        staged = file.staged("image/png")
        temporary = Path(staged.path)
        assert temporary.is_file()
        assert temporary.parent == staging.directory
        info = storage.commit_portrait(staged, claimed_job(document)).get(timeout=TIMEOUT)
        assert info is not None
        assert not temporary.exists()

    assert staged.sha256 == digest
    assert staged.size == len(data)
    assert info.sha256 == digest
    assert info.size == len(data)
    assert info.content_type == "image/png"
    assert document.get_file(info.id).get(timeout=TIMEOUT) == info
    assert file_path(root, digest) == root / digest[:2] / digest
    assert (root / digest[:2] / digest).read_bytes() == data
    assert stored_files(root) == [root / digest[:2] / digest]
    assert list(staging.directory.iterdir()) == []


def test_committing_identical_content_twice_gives_two_rows_but_one_file(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()

    first = commit_bytes(staging, storage, document, data)
    second = commit_bytes(staging, storage, document, data, "image/webp")

    assert first.id != second.id
    assert first.sha256 == second.sha256
    assert document.get_file(first.id).get(timeout=TIMEOUT) == first
    assert document.get_file(second.id).get(timeout=TIMEOUT) == second
    assert stored_files(root) == [final_path(root, data)]


def test_different_content_gives_different_files(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    png, webp = png_bytes(), webp_bytes()

    commit_bytes(staging, storage, document, png)
    commit_bytes(staging, storage, document, webp, "image/webp")

    assert stored_files(root) == sorted([final_path(root, png), final_path(root, webp)])


def test_an_empty_file_can_be_committed(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    info = commit_bytes(staging, storage, document, b"", "application/octet-stream")

    assert info.size == 0
    assert info.sha256 == hashlib.sha256(b"").hexdigest()
    assert final_path(root, b"").read_bytes() == b""


# Commit of a portrait ---------------------------------------------------------------------


def test_a_committed_portrait_is_stored_and_its_story_settled_on_it(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    job = claimed_job(document)
    data = png_bytes()

    info = commit_portrait_bytes(staging, storage, job, data)

    assert info is not None
    assert final_path(root, data).read_bytes() == data
    story = document.get_story(job.story_id).get(timeout=TIMEOUT)
    assert story is not None
    assert (story.portrait_status, story.storage_id) == (PortraitStatus.STORED, info.id)


def test_a_portrait_whose_story_was_deleted_leaves_no_row_and_no_file(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    job = claimed_job(document)
    document.delete_story(job.story_id).get(timeout=TIMEOUT)

    assert commit_portrait_bytes(staging, storage, job, png_bytes()) is None

    assert stored_files(root) == []
    assert StoredFile.select().count() == 0
    assert list(staging.directory.iterdir()) == []


def test_a_portrait_whose_claim_is_gone_keeps_bytes_another_row_has(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()
    kept = commit_bytes(staging, storage, document, data)
    job = claimed_job(document)
    document.fail_generating("interrupted: test").get(timeout=TIMEOUT)

    assert commit_portrait_bytes(staging, storage, job, data) is None

    assert final_path(root, data).read_bytes() == data
    assert [row.id for row in StoredFile.select()] == [kept.id]


# Delete -----------------------------------------------------------------------------------


def test_a_shared_file_is_kept_until_its_last_row_is_deleted(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()
    first = commit_bytes(staging, storage, document, data)
    second = commit_bytes(staging, storage, document, data)
    path = final_path(root, data)

    assert storage.delete(first.id).get(timeout=TIMEOUT) is True
    assert path.read_bytes() == data
    assert document.get_file(first.id).get(timeout=TIMEOUT) is None
    assert document.get_file(second.id).get(timeout=TIMEOUT) == second

    assert storage.delete(second.id).get(timeout=TIMEOUT) is True
    assert not path.exists()
    assert stored_files(root) == []
    assert document.get_file(second.id).get(timeout=TIMEOUT) is None


def test_deleting_an_unknown_file_returns_false(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()
    info = commit_bytes(staging, storage, document, data)

    assert storage.delete("no-such-file").get(timeout=TIMEOUT) is False
    assert storage.delete(info.id).get(timeout=TIMEOUT) is True
    assert storage.delete(info.id).get(timeout=TIMEOUT) is False
    assert stored_files(root) == []


def test_content_committed_again_after_its_file_was_deleted_is_stored_again(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()
    storage.delete(commit_bytes(staging, storage, document, data).id).get(timeout=TIMEOUT)
    assert not final_path(root, data).exists()

    info = commit_bytes(staging, storage, document, data)

    file, _ = storage.open(info.id).get(timeout=TIMEOUT)
    with file:
        assert file.read() == data


# Open -------------------------------------------------------------------------------------


def test_open_returns_the_bytes_and_the_content_type(
    staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = webp_bytes()
    info = commit_bytes(staging, storage, document, data, "image/webp")

    file, content_type = storage.open(info.id).get(timeout=TIMEOUT)
    with file:
        assert file.read() == data
    assert content_type == "image/webp"


def test_opening_an_unknown_id_raises_stored_file_not_found(storage: StorageProxy) -> None:
    with pytest.raises(StoredFileNotFound) as caught:
        storage.open("no-such-file").get(timeout=TIMEOUT)

    assert caught.value.storage_id == "no-such-file"
    assert isinstance(caught.value, LookupError)


def test_opening_a_row_whose_bytes_are_gone_raises_stored_file_not_found(
    root: Path, staging: Staging, storage: StorageProxy, document: DocumentProxy
) -> None:
    data = png_bytes()
    info = commit_bytes(staging, storage, document, data)
    final_path(root, data).unlink()

    with pytest.raises(StoredFileNotFound):
        storage.open(info.id).get(timeout=TIMEOUT)


# Staging ----------------------------------------------------------------------------------


def test_a_staging_file_abandoned_by_an_exception_is_removed(staging: Staging) -> None:
    paths: list[Path] = []

    def download_that_fails() -> None:
        with staging.new_file() as file:
            paths.append(file.path)
            file.write(b"half an image")
            raise RuntimeError("download failed")

    with pytest.raises(RuntimeError, match="download failed"):
        download_that_fails()

    assert len(paths) == 1
    assert not paths[0].exists()
    assert list(staging.directory.iterdir()) == []


def test_a_finished_but_uncommitted_staging_file_is_removed_on_exit(staging: Staging) -> None:
    with staging.new_file() as file:
        file.write(b"not wanted after all")
        file.finish()
        path = file.path
        assert path.read_bytes() == b"not wanted after all"

    assert not path.exists()


def test_sweep_removes_dead_staging_directories_and_keeps_live_ones(root: Path) -> None:
    base = root / "tmp"
    base.mkdir(parents=True)
    # A process that died: its directory and its lock file remain, and nobody holds the lock.
    dead = base / "0123456789abcdef0123456789abcdef"
    dead.mkdir()
    (dead / "leftover.part").write_bytes(b"partial")
    (base / f"{dead.name}.lock").touch()
    live = Staging(root)
    sweeper = Staging(root)
    try:
        with live.new_file() as file:
            file.write(b"in progress")
            file.finish()
            in_progress = file.path

            swept = sweeper.sweep_abandoned()

            assert in_progress.read_bytes() == b"in progress"
        assert swept == 1
        assert not dead.exists()
        assert not (base / f"{dead.name}.lock").exists()
        # flock is per open file description: another Staging in this process holds its lock.
        assert live.directory.is_dir()
        assert (base / f"{live.directory.name}.lock").exists()
        assert sweeper.directory.is_dir()
        assert live.sweep_abandoned() == 0
    finally:
        live.close()
        sweeper.close()

    assert list(base.iterdir()) == []


def test_a_closed_staging_removes_its_directory_and_lock(root: Path) -> None:
    staging = Staging(root)
    directory = staging.directory
    with staging.new_file() as file:
        file.write(b"x")

    staging.close()

    assert not directory.exists()
    assert list((root / "tmp").iterdir()) == []


# Failure ----------------------------------------------------------------------------------


def test_a_commit_whose_row_cannot_be_inserted_leaves_no_file_behind(
    root: Path,
    staging: Staging,
    storage: StorageProxy,
    document: DocumentProxy,
    document_ref: pykka.ActorRef[DocumentActor],
) -> None:
    data = png_bytes()
    job = claimed_job(document)
    document_ref.stop(timeout=TIMEOUT)

    with pytest.raises(pykka.ActorDeadError):
        commit_portrait_bytes(staging, storage, job, data)

    assert not final_path(root, data).exists()
    assert stored_files(root) == []


def test_a_failed_commit_of_content_already_stored_keeps_the_existing_file(
    root: Path,
    staging: Staging,
    storage: StorageProxy,
    document: DocumentProxy,
    document_ref: pykka.ActorRef[DocumentActor],
) -> None:
    data = png_bytes()
    kept = commit_bytes(staging, storage, document, data)
    job = claimed_job(document)
    document_ref.stop(timeout=TIMEOUT)

    with pytest.raises(pykka.ActorDeadError):
        commit_portrait_bytes(staging, storage, job, data)

    # The first row still refers to these bytes, so they must stay.
    assert final_path(root, data).read_bytes() == data
    assert stored_files(root) == [final_path(root, data)]
    assert kept.sha256 == hashlib.sha256(data).hexdigest()
