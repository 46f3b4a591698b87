"""Step 5b, words: printed words beside the digits are not digits.

A page's captions ("Total", "Name", "Sudoku") are ink of digit height, and their letters read
as digits (o as 0, S as 5, l as 1). What gives a word away is the row its letters make: they
follow each other closely on one baseline, and a line of text mixes two heights, capitals and
ascenders beside x-height letters. A number is a row too, but its digits are all as tall as
the tallest ink of their line (the digits of a font are cap height), so "Total 2749" keeps
its number. :func:`in_words` finds the words before any piece is cropped or classified.

A line of letters of one height (all capitals) is left to the model: by their widths alone,
letters are not told from the digits of a bold or wide font. Blurred letters that ink into
one piece show their x-height inside it (:func:`x_height_inside`): such a piece makes a word with
one neighbour, or alone if it is a word's width.
"""

from __future__ import annotations

import numpy as np

from mnist_edge.common.union_find import UnionFind

Box = tuple[int, int, int, int]

NEXT_GAP = 0.45  # a letter follows its neighbour at most this share of the taller's height away
OVERLAP_BACK = 0.1  # ...or overlaps it by at most this share (kerned or touching letters)
SAME_LINE = 0.25  # their bottoms (or tops, for a descender) differ by at most this share
LETTER_RATIO = 0.5  # and the shorter is at least this share of the taller (a dot is not a letter)
LINE_GAP = 1.2  # words of one line of text are at most this far apart (share of the taller)
MIN_LETTERS = 3  # a row this long can be a word
WORD_SPACE = 0.32  # a wider gap between two pieces (share of the taller) is between words
SHORT = 0.85  # a letter under this share of its line's tallest is an x-height letter...
MIN_SHORT = 1  # ...and a row with this many of them is text
THIN = 0.25  # narrower than this share of its height: an l, an I or a box's wall
# letters blurred into one piece ("ota" of a soft "Total"): wider than this share of its height
MERGED_WIDE = 1.2
CAP_BAND = 0.15  # the top of a piece, this share of its height: above the x-height
CAP_COVER = 0.5  # x-height letters inside: under this share of its columns reach the band,
X_LINE = (0.2, 0.5)  # ...and the others' ink starts level, this far down (share of height),
X_LEVEL = 0.07  # ...within this much (share of height) of their median, or a pixel,
X_SHARE = 0.4  # ...in at least this share of the columns,
X_BODY = 0.15  # ...columns holding letters' bodies: this share of the height inked at least
MIN_PIECE = 8  # px: a lower piece is too coarse to show an x-height (or a rule's leftover)
WORD_WIDE = 2.0  # such a piece alone (spaced off its row) is a word if this wide (share of height)


def in_words(boxes: list[Box], x_height: np.ndarray | None = None, slope: float = 0.0
             ) -> set[int]:
    """Indices of ``boxes`` (every ink piece of a frame that may be a letter or a digit) that
    are letters of a word.

    Rows are chained through pieces with some width only: thin pieces (an l, a 1, a box's
    wall) would chain the digits of a row of form boxes into one "word". A thin piece next
    to a word is one of its letters. ``x_height`` (optional, one bool a box): which pieces
    hold x-height letters inside (:func:`x_height_inside`), as blurred words' pieces do.
    ``slope`` (y per x): the lines of text run so (a turned page); letters' bottoms are level
    along it, not along the frame's rows."""
    n = len(boxes)
    merged = np.zeros(n, bool) if x_height is None else np.asarray(x_height, bool)
    shortest = 2 if merged.any() else MIN_LETTERS  # blurred letters: two pieces can be a word
    if n == 0:
        return set()
    b = np.array(boxes, dtype=np.float32).reshape(n, 4)
    # a blurred word spaced off its neighbours ("page" in one piece) is a word alone
    alone = {int(i) for i in np.flatnonzero(merged) if _letters_wide(b[i])}
    if n < shortest:
        return alone
    thin = b[:, 2] < THIN * b[:, 3]
    wide = ~thin[:, None] & ~thin[None, :]
    gap = b[None, :, 0] - (b[:, 0] + b[:, 2])[:, None]  # [i, j]: i's right edge to j's left
    line = _on_line(_levelled(b, slope))
    near = _follows(b, gap, NEXT_GAP) & line
    rows = _chains(near & wide, gap, shortest)
    if not rows:  # (most frames: no pieces in a tight row)
        return alone
    tallest = _line_heights(b, _chains(_follows(b, gap, LINE_GAP) & line & wide, gap, 2))
    out: set[int] = set()
    for chain in rows:
        with_thin = np.flatnonzero(thin & (near | near.T)[chain].any(axis=0)).tolist()
        for word in _split_at_spaces(b, sorted({*chain, *with_thin}, key=lambda i: b[i, 0])):
            if (len(chain) >= MIN_LETTERS and _is_word(b[word], thin[word], tallest[word].max())) \
                    or (merged[word].any() and len(word) > 1):  # (one piece: ``alone``)
                out.update(word)
    return out | alone


def _letters_wide(box: np.ndarray) -> bool:
    """A piece wide enough to be a word alone (a blurred "Date"), not one wide digit."""
    return bool(box[2] >= WORD_WIDE * box[3])


def _split_at_spaces(b: np.ndarray, row: list[int]) -> list[list[int]]:
    """A row (sorted by x) cut where the gap is a space between words, not between letters."""
    x, w, h = b[row, 0], b[row, 2], b[row, 3]
    gaps = (x[1:] - (x + w)[:-1]) / np.maximum(h[1:], h[:-1])
    cuts = np.flatnonzero(gaps > WORD_SPACE) + 1
    return [part.tolist() for part in np.split(np.array(row), cuts)]


def _levelled(b: np.ndarray, slope: float) -> np.ndarray:
    """Boxes (rows x, y, w, h) of pieces of a line of text at ``slope`` moved up or down by
    their centre's x, as if the line ran level."""
    if not slope:
        return b
    out = b.copy()
    out[:, 1] -= slope * (b[:, 0] + b[:, 2] / 2)
    return out


def _on_line(b: np.ndarray) -> np.ndarray:
    """[i, j]: boxes i and j could be letters of one line: their bottoms (or tops, for a
    descender) level, the shorter at least ``LETTER_RATIO`` of the taller."""
    y, h = b[:, 1], b[:, 3]
    taller = np.maximum(h[:, None], h[None, :])
    bottoms = np.abs((y + h)[:, None] - (y + h)[None, :]) <= SAME_LINE * taller
    tops = np.abs(y[:, None] - y[None, :]) <= SAME_LINE * taller
    return (bottoms | tops) & (np.minimum(h[:, None], h[None, :]) >= LETTER_RATIO * taller)


def _follows(b: np.ndarray, gap: np.ndarray, reach: float) -> np.ndarray:
    """[i, j]: box j follows box i, at most ``reach`` of the taller's height away (or
    overlapping it a little)."""
    h = b[:, 3]
    taller = np.maximum(h[:, None], h[None, :])
    return (gap <= reach * taller) & (gap >= -OVERLAP_BACK * taller) \
        & (b[None, :, 0] > b[:, None, 0])


def _chains(link: np.ndarray, gap: np.ndarray, at_least: int) -> list[list[int]]:
    """Rows of at least ``at_least`` (>= 2) boxes: each box is chained to the nearest that
    follows it."""
    sets = UnionFind(len(link))
    for i in np.flatnonzero(link.any(axis=1)):
        sets.union(i, int(np.argmin(np.where(link[i], gap[i], np.inf))))
    linked = np.flatnonzero(link.any(axis=1) | link.any(axis=0))  # (a lone box: no row)
    return [m for m in sets.groups(linked) if len(m) >= at_least]


def _line_heights(b: np.ndarray, lines: list[list[int]]) -> np.ndarray:
    """Each box's line's tallest box (px); a box on no line is its own."""
    tallest = b[:, 3].copy()
    for line in lines:
        tallest[line] = b[line, 3].max()
    return tallest


def _is_word(b: np.ndarray, thin: np.ndarray, line_height: float) -> bool:
    """Tightly set pieces (boxes as rows x, y, w, h; ``thin``: which are thin) are a word if
    x-height letters are among the wider ones: shorter than the tallest ink of their line (a
    capital or an ascender in the word or in its neighbours)."""
    h = b[~thin, 3]
    return int((h < SHORT * line_height).sum()) >= MIN_SHORT


def x_height_inside(piece: np.ndarray, slope: float = 0.0) -> bool:
    """Whether an ink piece (its box's mask, 0/255) is letters blurred together, x-height ones
    among them: out of focus, "Total" inks into "T", "ota", "l", all of one height, so no
    piece is an x-height letter by its box. Inside "ota" though, only the t reaches the top:
    the o and the a start level, lower down. Read upside down, the same finds descenders
    ("pag": only p and g reach the bottom). Touching digits reach their top (and bottom)
    across most of their width, or not level (a wide handwritten 2's slope). ``slope`` (y per
    x): the line of text runs so (a turned page), and level is along it."""
    return _starts_level_below_top(piece, slope) or _starts_level_below_top(piece[::-1], -slope)


def _starts_level_below_top(piece: np.ndarray, slope: float) -> bool:
    """A wide piece most of whose columns start below its top band, level with each other
    (along ``slope``)."""
    h, w = piece.shape
    if w < MERGED_WIDE * h or h < MIN_PIECE:
        return False
    inked = piece > 0
    has = inked.any(axis=0)
    first = inked.argmax(axis=0).astype(float)  # where each column's ink starts...
    if slope:
        first -= slope * (np.arange(w) - w / 2)  # ...levelled along the line of text
    first = np.where(has, first, h) / h
    reach = float((first < CAP_BAND).mean())
    body = inked.sum(axis=0) >= X_BODY * h  # (a bit of rule left between two digits: thin)
    below = first[(first >= X_LINE[0]) & (first <= X_LINE[1]) & body]
    if reach >= CAP_COVER or len(below) < X_SHARE * w:
        return False
    level = max(X_LEVEL, 1.0 / h)  # (a small piece's edges are a pixel apart)
    return float(((np.abs(first - np.median(below)) <= level) & body).mean()) >= X_SHARE
