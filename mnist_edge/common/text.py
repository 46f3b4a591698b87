"""Text for one-line messages."""

from __future__ import annotations

MAX_REASON = 200  # characters of a library's message quoted in ours


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (at most :data:`MAX_REASON` characters), or the
    exception's type name when it has no message: the "(reason)" a one-line error quotes."""
    text = str(exc).strip()
    return text.splitlines()[0][:MAX_REASON] if text else type(exc).__name__
