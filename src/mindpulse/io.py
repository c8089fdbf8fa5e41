"""Files in and out: inputs read whole from a file, a pipe or standard input, and atomic writes
(a reader sees the old file or the new one, never half of one)."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import pandas as pd


#: The name that means standard input.
STDIN = "-"


class InputFileError(ValueError):
    """An input that is not a readable file or pipe; ``what`` says what it is instead."""

    def __init__(self, source: str, what: str):
        self.source, self.what = source, what
        super().__init__(f"{source}: {what}")


def input_name(path: str | os.PathLike[str]) -> str:
    """How messages name an input: its path, or ``stdin`` for ``-``."""
    return "stdin" if os.fspath(path) == STDIN else os.fspath(path)


def read_input(path: str | os.PathLike[str]) -> bytes:
    """The whole content of a regular file, a pipe (``/dev/stdin``) or standard input (``-``).

    ``FileNotFoundError`` for a missing path; :class:`InputFileError` for a directory,
    ``/dev/null`` or another device, or a file that cannot be read.
    """
    name = input_name(path)
    if os.fspath(path) == STDIN:
        return sys.stdin.buffer.read()
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputFileError(name, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(name, "is a directory")
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        if info.st_rdev == os.stat(os.devnull).st_rdev:
            raise InputFileError(name, f"is {os.devnull}, which is always empty")
        raise InputFileError(name, "is a device, not a file or a pipe")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputFileError(name, f"cannot be read ({exc.strerror})") from None


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; the reports and data are read by other users (a web server).
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_open(target: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that atomically replaces ``target`` on success."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(target)


def atomic_write_json(target: str | os.PathLike[str], payload: Any) -> Path:
    return atomic_write_text(target, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(target: str | os.PathLike[str], frame: pd.DataFrame, **kwargs: Any) -> Path:
    kwargs.setdefault("index", False)
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(target)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
