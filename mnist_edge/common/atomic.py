"""Atomic file writes: a crash mid-write never leaves a broken file where a good one was.

Every output (models, metrics, bundles, reports) is written to a temporary file in the same
directory and then renamed over the target; ``os.replace`` is atomic on POSIX filesystems.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mnist_edge.common.errors import UserError

MIN_FREE_BYTES = 16 * 1024 * 1024  # below this, writing a model is refused before the work


def check_writable(*targets: str | os.PathLike[str], min_free: int = MIN_FREE_BYTES) -> None:
    """Refuse, as one :class:`UserError`, an output that cannot be written - before the work.

    For each target: its folder is created for the check and removed again (a parent that is
    a file fails here), the target
    must not be a folder, a temporary file is created and removed next to it (a read-only
    folder fails here), and the filesystem must have ``min_free`` bytes free (Keras' HDF5
    writer crashes the process on a full disk, so it must not get that far).
    """
    for target in targets:
        path = Path(target)
        if path.is_dir():
            raise UserError(f"cannot write {path}: it is a folder")
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise UserError(f"cannot write {path}: {blocker} is a file, not a folder")
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".probe",
                                         dir=path.parent)
            os.close(fd)
            os.unlink(probe)
            free = shutil.disk_usage(path.parent).free
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            for folder in missing:  # deepest first: a failed run leaves no empty folders
                with contextlib.suppress(OSError):
                    folder.rmdir()
        if free < min_free:
            raise UserError(f"cannot write {path}: only {free / 2**20:.1f} MB free on its disk "
                            f"(need {min_free / 2**20:.0f} MB)")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it to ``target``.

    The temporary name keeps the target's suffix, because some writers (Keras) pick the file
    format from it. On any exception the temporary file is removed and ``target`` is untouched;
    an ``OSError`` (disk full, read-only, a parent that is a file, a target that is a folder)
    becomes one :class:`UserError` that names the target.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
        )
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            os.chmod(tmp_path, _final_mode(target))
            os.replace(tmp_path, target)
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _final_mode(target: Path) -> int:
    """Keep an existing file's mode; new files get 0o666 minus the umask, like ``open()``.

    ``mkstemp`` creates 0o600 files, which would make shipped models unreadable to others.
    """
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the target path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Let ``writer(tmp_path)`` produce the file, then move it into place atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)
