"""``mnist-edge predict``: read the digits in image files and folders of images.

Library side of the command, so tests call it directly: :func:`image_files` expands the paths
the user gave (folders -> their images, sorted), :func:`predict_files` reads each image with a
:class:`~mnist_edge.reading.reader.DigitReader` and yields one :class:`ImageResult` per image,
carrying either the digits or a one-line error (an unreadable file does not stop the others).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_edge.common.errors import UserError
from mnist_edge.reading.camera import IMAGE_EXTS, folder_images, read_image_file
from mnist_edge.reading.reader import Digit, DigitReader


@dataclass(frozen=True)
class ImageResult:
    """The digits read in one image, or why it could not be read."""

    path: str
    digits: list[Digit] = field(default_factory=list)
    error: str | None = None
    grids: list[tuple[int, int]] = field(default_factory=list)  # (rows, columns) per grid

    @property
    def reading(self) -> str:
        return "".join(str(d.label) for d in self.digits)

    def to_dict(self, probabilities: bool = False) -> dict[str, Any]:
        """``{"path": ..., "digits": [{"label", "confidence", "box"}, ...]}``."""
        return {"path": self.path, "digits": [d.to_dict(probabilities) for d in self.digits]}


def image_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files to read: each file as given, each folder's images sorted by path, subfolders
    included (a class-folder set reads whole).

    A path that does not exist stays in the list (reading it gives its own error line, and the
    others are still read); a folder without images is a UserError.
    """
    files: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in IMAGE_EXTS
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            files.extend(found or folder_images(p))  # folder_images says why there are none
        else:
            files.append(p)
    return files


def predict_files(reader: DigitReader, files: Iterable[Path]) -> Iterator[ImageResult]:
    """Read every digit in each file, in order; an unreadable file yields an error result."""
    for f in files:
        try:
            image = read_image_file(f)
        except UserError as exc:
            yield ImageResult(str(f), error=str(exc))
            continue
        if reader.info.whole_crops:  # a crop model: the image is one crop, one reading
            yield ImageResult(str(f), [reader.read_whole(image)])
            continue
        digits, grids = reader.read_grids(image)
        yield ImageResult(str(f), digits, grids=grids)
