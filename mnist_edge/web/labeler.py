"""The label page: a class-folder set's crops as a grid; a key press files each into its class.

``mnist-edge label DIR`` serves it (after ``collect --out DIR``). The page lists the crops of
``DIR/unsure/`` first, then of every class folder, and posts ``{"crop": "unsure/a.png", "to":
"7"}`` for each key press; :class:`Labeler` moves the file into ``DIR/7/``. Nothing is deleted
or overwritten: a discarded crop goes to ``DIR/_discarded/`` (which training skips), and a name
already taken in the target folder gets ``-1``, ``-2``... (the move itself is a hard link then
an unlink, which fails rather than replaces an existing file).

A crop is named by ``<folder>/<file>`` of a folder directly under ``DIR``; anything else (``..``,
a hidden or nested path, a link out of ``DIR``) is refused, so the page can only ever move the
set's own crops between the set's own folders.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_edge.common.errors import UserError
from mnist_edge.reading.camera import IMAGE_EXTS
from mnist_edge.reading.class_folders import DIGIT_NAMES, DISCARDED, UNSURE, class_order

DISCARD_KEYS = ("x", "Delete", "Backspace")
RESERVED_KEYS = frozenset({"x", "u"})  # discard and "back to unsure"
BROWSER_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".bmp": "image/bmp", ".webp": "image/webp"}


class LabelError(UserError):
    """A request the page cannot have meant: answered with ``status`` and the one-line reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def open_set(folder: str | os.PathLike[str]) -> Path:
    """The set's folder, checked before the server starts: it exists and can be written."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise UserError(f"no such folder: {path}")
    if not path.is_dir():
        raise UserError(f"{path} is a file, not a folder of crops")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to {path} (no permission): crops could not be moved")
    return path


@dataclass
class Labeler:
    """The crops of one class-folder set, and the moves that sort them."""

    root: Path
    moves: Counter = field(default_factory=Counter)  # crops filed, by target folder
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what the page shows --------------------------------------------------------------

    def folders(self) -> list[str]:
        """The set's folders a crop can be shown from: ``unsure`` first, then the classes."""
        names = [d.name for d in self.root.iterdir()  # a linked folder may lead out of the set
                 if d.is_dir() and not d.is_symlink() and not d.name.startswith(("_", "."))]
        return [UNSURE] * (UNSURE in names) + class_order([n for n in names if n != UNSURE])

    def classes(self) -> list[dict[str, Any]]:
        """Where a crop can go: 0-9 and every class folder present, then ``unsure``; each with
        its key (a digit, a letter of its name, or None: its button only) and crop count."""
        present = set(self.folders()) - {UNSURE}
        names = [*class_order(sorted(present | set(DIGIT_NAMES))), UNSURE]
        keys = class_keys(names)
        return [{"name": n, "key": keys.get(n), "count": self._count(n)} for n in names]

    def crops(self) -> list[dict[str, str]]:
        """Every crop directly in a shown folder, folder by folder, by file name."""
        out = []
        for folder in self.folders():
            for f in sorted((self.root / folder).iterdir()):
                if _is_crop(f):
                    out.append({"id": f"{folder}/{f.name}", "folder": folder})
        return out

    def state(self) -> dict[str, Any]:
        return {"root": str(self.root), "classes": self.classes(), "crops": self.crops(),
                "discard": {"name": DISCARDED, "keys": list(DISCARD_KEYS)},
                "moved": sum(self.moves.values())}

    def image(self, crop_id: str) -> tuple[bytes, str]:
        """A crop's bytes and content type; a format browsers do not show is sent as PNG."""
        path = self.resolve(crop_id)
        kind = BROWSER_TYPES.get(path.suffix.lower())
        if kind is not None:
            return path.read_bytes(), kind
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        ok, png = cv2.imencode(".png", image) if image is not None else (False, None)
        if not ok:
            raise LabelError(f"cannot read the image {crop_id}", 415)
        return png.tobytes(), "image/png"

    def _count(self, folder: str) -> int:
        path = self.root / folder
        return sum(1 for f in path.iterdir() if _is_crop(f)) if path.is_dir() else 0

    # -- moving ---------------------------------------------------------------------------

    def resolve(self, crop_id: Any) -> Path:
        """The file a crop id names, refusing anything but ``<folder>/<file>`` inside the set."""
        if not isinstance(crop_id, str) or crop_id.count("/") != 1 or "\\" in crop_id:
            raise LabelError(f"not a crop of this set: {str(crop_id)[:80]!r}")
        folder, name = crop_id.split("/")
        if folder.startswith((".", "_")) or name.startswith(".") or not folder or not name \
                or folder == ".." or name == "..":
            raise LabelError(f"not a crop of this set: {crop_id[:80]!r}")
        path = self.root / folder / name
        root = self.root.resolve()
        if path.resolve().parent.parent != root or not _is_crop(path):
            raise LabelError(f"no such crop: {crop_id[:80]}", 404)
        return path

    def post(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """A POST of ``{"crop": "<folder>/<file>", "to": "<class>"}``: (HTTP status, answer)."""
        try:
            crop_id, to = parse_move(body)
            return 200, {"crop": self.move(crop_id, to), "to": to}
        except LabelError as exc:
            return exc.status, {"error": str(exc)}
        except UserError as exc:
            return 400, {"error": str(exc)}

    def move(self, crop_id: str, to: str) -> str:
        """File the crop into class ``to`` (or the discard folder); its new id."""
        if to != DISCARDED and to not in {c["name"] for c in self.classes()}:
            raise LabelError(f"no class {to[:40]!r}: press a digit, a class's key, or x")
        with self._lock:  # two quick key presses never race for one name
            src = self.resolve(crop_id)
            if src.parent.name == to:
                return crop_id
            try:
                dst = move_no_overwrite(src, self.root / to)
            except OSError as exc:
                raise LabelError(f"cannot move {crop_id}: {exc.strerror or exc}", 500) from None
            self.moves[to] += 1
        return f"{to}/{dst.name}"

    def summary(self) -> str:
        """What the session did, for the command's last line."""
        kept = {k: v for k, v in self.moves.items() if k != DISCARDED}
        per = ", ".join(f"{k}: {v}" for k, v in sorted(kept.items())) or "none"
        return (f"{self.root}: filed {sum(kept.values())} crop(s) ({per}), discarded "
                f"{self.moves[DISCARDED]} into {DISCARDED}/")


def parse_move(body: bytes) -> tuple[str, str]:
    """The crop id and target class of a POST body; one line for anything else."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LabelError('send JSON: {"crop": "unsure/a.png", "to": "7"}') from None
    if not isinstance(data, dict) or not isinstance(data.get("crop"), str) \
            or not isinstance(data.get("to"), str):
        raise LabelError('send JSON: {"crop": "unsure/a.png", "to": "7"}')
    return data["crop"], data["to"]


def class_keys(names: list[str]) -> dict[str, str]:
    """A key for each class: a digit's own; ``u`` for unsure; for another class the first
    letter of its name not yet taken (``N`` -> ``n``, ``blank`` -> ``b``); none if all are."""
    keys = {n: n for n in names if n in DIGIT_NAMES}
    if UNSURE in names:
        keys[UNSURE] = "u"
    taken = set(keys.values()) | RESERVED_KEYS
    for name in names:
        if name in keys:
            continue
        free = next((c for c in name.lower() if c.isalpha() and c not in taken), None)
        if free is not None:
            keys[name] = free
            taken.add(free)
    return keys


def move_no_overwrite(src: Path, folder: Path) -> Path:
    """Move ``src`` into ``folder`` under its own name, or ``stem-1``, ``stem-2``... when that
    is taken; never replaces a file. A hard link fails on an existing name (``rename`` would
    silently replace it); where links are not supported (FAT), the name is checked first."""
    folder.mkdir(exist_ok=True)
    n = 0
    while True:
        dst = folder / (src.name if n == 0 else f"{src.stem}-{n}{src.suffix}")
        n += 1
        try:
            os.link(src, dst)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if dst.exists():
                continue
            os.rename(src, dst)
            return dst
        os.unlink(src)
        return dst


def _is_crop(path: Path) -> bool:
    return (path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")
            and path.is_file())


def serve_labels(folder: str | os.PathLike[str], address: str, *, auth: str | None = None,
                 echo: Callable[[str], None] = print) -> Labeler:
    """``mnist-edge label``: serve the page for ``folder`` until Ctrl-C or SIGTERM; the
    labeler (its moves) when stopped."""
    from mnist_edge.web.server import build_server, is_loopback, parse_address

    host, _ = parse_address(address)  # a typo is reported before anything else
    labeler = Labeler(open_set(folder))
    server = build_server(address, labeler=labeler, auth=auth)
    if auth is None and not is_loopback(host):
        echo(f"warning: listening on {host} without --auth: anyone on the network can see and "
             "move your crops (add --auth USER:PASSWORD or --auth-file FILE)")
    echo(f"sort the crops of {labeler.root} on {server.url}label: a digit key files the "
         "selected crop, x discards it (Ctrl-C stops)")
    server.serve_forever()
    echo(labeler.summary())
    return labeler
