"""Writing a file so that a reader sees the old content or the new, never a part.

The content goes to a temporary file in the same directory (a rename is atomic only within one
file system), is flushed to disk, and is renamed over the target. On any failure the temporary
file is removed and the target is left as it was. New files get the permissions the umask gives an
ordinary ``open``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write (for writers that take a file name); on a clean
    exit it is synced and renamed to ``path``, otherwise removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """UTF-8, newlines as given."""
    with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_json(path: str | Path, payload: Any, indent: int | None = 2, ensure_ascii: bool = False) -> None:
    """``payload`` as JSON and a final newline."""
    write_text(path, json.dumps(payload, indent=indent, ensure_ascii=ensure_ascii) + "\n")


@contextmanager
def staged_directory(output: Path, suffix: str = "") -> Iterator[Path]:
    """A new empty directory beside ``output`` to build in; on a clean exit it takes the place of
    ``output`` whole (``replace_directory``), otherwise it is removed and ``output`` stays as it was."""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=suffix, dir=output.parent))
    try:
        yield staging
        replace_directory(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_directory(staging: Path, output: Path) -> None:
    """Put the complete directory ``staging`` in the place of ``output`` (absent, a directory or a
    file); the old one is moved aside first and deleted only once the new one is in place."""
    if not output.exists():
        staging.rename(output)
        return
    retired = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.old")
    output.rename(retired)
    try:
        staging.rename(output)
    except BaseException:
        retired.rename(output)
        raise
    if retired.is_dir():
        shutil.rmtree(retired, ignore_errors=True)
    else:
        retired.unlink()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(directory: Path) -> None:
    with suppress(OSError):  # not every file system can sync a directory; the rename itself is done
        _fsync(directory)
