"""What a class-folder set's folders mean: which are classes, in what order they come.

One place for the rules that ``collect`` (writes ``OUT/<guess>/`` and ``OUT/unsure/``), the
label page (moves crops between them, discards into ``OUT/_discarded/``) and ``train --data``
(reads the classes) must agree on; numpy-free, so the device side uses it too.

``unsure/`` holds the crops still to be sorted and ``_discarded/`` the ones thrown out: neither
is a class, so training right after ``collect`` or after a labelling session never learns a
class named "unsure". Any folder whose name starts with ``_`` or ``.`` is skipped the same way.
"""

from __future__ import annotations

UNSURE = "unsure"
DISCARDED = "_discarded"
DIGIT_NAMES = tuple(str(d) for d in range(10))


def is_class_name(name: str) -> bool:
    """True for a folder that holds a class's crops (not ``unsure``, ``_...`` or ``.``)."""
    return bool(name) and name != UNSURE and not name.startswith(("_", "."))


def class_order(names: list[str]) -> list[str]:
    """Digits first in numeric order, then the other names alphabetically (so a digits-only
    set keeps MNIST's label order and a fine-tuned model keeps its digit outputs)."""
    return sorted(names, key=lambda n: (0, int(n), "") if n.isdigit() else (1, 0, n))
