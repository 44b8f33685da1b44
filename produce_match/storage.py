"""Where uploaded files live: one interface, so several web nodes can share a directory.

Code that stores uploads (lot photos and the like) asks `get_storage()` for the app's storage and
addresses files by key, a relative POSIX path such as ``lots/12/3f2a9c.jpg``. `LocalStorage` keeps
them under ``UPLOAD_DIR``; when the app runs on several nodes that directory is a shared volume, so
a file one node saved is there for every other node to read and send. Another backend (an object
store) only has to implement the same `Storage` protocol.

Keys are checked strictly: a key can never name a file outside the root, however it is spelled.
Writes are atomic: a reader on any node sees either the old file or the whole new one, never a
half-written file.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import tempfile
from typing import Protocol, runtime_checkable

from flask import Response, abort, current_app, send_file
from sqlalchemy import event
from sqlalchemy.orm import Session

from produce_match.queue import after_commit, task

#: the permissions of a saved file, as a plain open() would give them under the usual umask 022
FILE_MODE = 0o644


@runtime_checkable
class Storage(Protocol):
    """Files addressed by key (a relative POSIX path such as ``lots/12/3f2a.jpg``)."""

    def save(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any file already there."""
        ...

    def read(self, key: str) -> bytes:
        """Return the bytes stored under `key` (FileNotFoundError when there are none)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a file is stored under `key`."""
        ...

    def delete(self, key: str) -> None:
        """Remove the file stored under `key`; nothing happens when there is none."""
        ...

    def path(self, key: str) -> pathlib.Path:
        """The local path of the file stored under `key`, for sending it."""
        ...


class LocalStorage:
    """Files under a root directory on a local disk or a shared volume."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> pathlib.Path:
        """The path of `key` under the root; ValueError when the key is unsafe."""
        if not isinstance(key, str) or not key:
            raise ValueError("A storage key must be a non-empty string.")
        if "\x00" in key or "\\" in key:
            raise ValueError(f"Storage key {key!r} contains a NUL or a backslash.")
        if key.startswith("/"):
            raise ValueError(f"Storage key {key!r} is absolute.")
        parts = key.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"Storage key {key!r} has an empty, '.' or '..' segment.")
        root = self.root.resolve()
        target = root.joinpath(*parts)
        # A symbolic link inside the root could still lead elsewhere: compare resolved paths.
        if not target.resolve().is_relative_to(root):
            raise ValueError(f"Storage key {key!r} resolves outside the storage root.")
        return target

    def save(self, key: str, data: bytes) -> None:
        """Write `data` under `key` atomically: temp file in the same directory, fsync, rename."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), FILE_MODE)
                os.fsync(fh.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_directory(target.parent)

    def read(self, key: str) -> bytes:
        """Return the bytes stored under `key` (FileNotFoundError when there are none)."""
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        """Whether a file is stored under `key`."""
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the file stored under `key`; nothing happens when there is none."""
        self.path(key).unlink(missing_ok=True)


def _fsync_directory(directory: pathlib.Path) -> None:
    """Make a rename durable; some file systems (and network volumes) cannot, which is fine."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def get_storage() -> Storage:
    """The current app's storage: a LocalStorage over its UPLOAD_DIR, one per app."""
    storage = current_app.extensions.get("storage")
    if storage is None:
        storage = LocalStorage(current_app.config["UPLOAD_DIR"])
        current_app.extensions["storage"] = storage
    return storage


def send_photo(key: str, *, private: bool, max_age: int = 3600) -> Response:
    """Send a stored JPEG of ours (404 if it is not there), never to be read as anything else.

    A private photo (an order's, a problem's) is cached by the browser only, never by proxies.
    """
    storage = get_storage()
    try:
        if not storage.exists(key):
            abort(404)
        data = storage.read(key)  # photos are small; any backend can read, not all have paths
    except ValueError:
        abort(404)
    response = send_file(io.BytesIO(data), mimetype="image/jpeg", max_age=max_age)
    if private:
        response.headers["Cache-Control"] = f"private, max-age={max_age}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


# --- deleting files only once the database change is committed ---------------------------


def delete_after_commit(key: str) -> None:
    """Delete a stored file once the current transaction commits (never if it rolls back): a
    task of the queue, enqueued by the commit."""
    after_commit("storage.delete", key)


@task("storage.delete")
def _delete(key: str) -> None:
    get_storage().delete(key)


_SAVED = "storage_saved_in_transaction"


def save_in_transaction(key: str, data: bytes) -> None:
    """Store a file that belongs to the current transaction: removed again if it rolls back."""
    from produce_match.extensions import db

    get_storage().save(key, data)
    db.session().info.setdefault(_SAVED, []).append(key)


@event.listens_for(Session, "after_commit")
def _keep_saved(session: Session) -> None:
    session.info.pop(_SAVED, None)  # committed: a later rollback must not remove them


@event.listens_for(Session, "after_rollback")
def _remove_saved(session: Session) -> None:
    saved = session.info.pop(_SAVED, [])
    if saved:
        storage = get_storage()
        for key in saved:
            storage.delete(key)
