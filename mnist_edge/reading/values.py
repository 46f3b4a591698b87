"""Pipeline step "post-process": the digits of a region group become a value, or a rejection.

``[values.<name>]`` in a meter config sets the rules for the regions whose ``value = "<name>"``
(all optional)::

    [values.gas]
    decimals = 3              # the last 3 digits are after the decimal point
    no_decrease = true        # a meter: a reading lower than the last good one is rejected
    max_rate = 5.0            # units per minute; a faster rise is rejected
    unknown_below = 0.6       # a digit less confident than this is unknown ("N")
    fill_unknown = true       # N digits are filled from the last good value (a drum mid-roll)
    unit = "m³"               # for MQTT / Home Assistant
    device_class = "gas"
    state_class = "total_increasing"
    state_file = "gas.last.json"   # the last good value, kept atomically across restarts

:class:`ValueTracker` applies them to one group's digits per frame and returns a
:class:`ValueResult`: ``ok`` with the value, or not ok with the ``reason`` (``"decrease from
1234.567 to 1234.559"``). A rejected reading is reported, never published as a value.

Filling unknown digits: a counter drum between two digits reads as neither. Each ``N`` is taken
from the last good value; if that makes the value go down (the drums to its right have wrapped
round, so this one has moved on to its next digit), the smallest fill with some ``N`` digits
one higher that does not decrease is used. With no last good value, unknown digits reject.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_edge.common import atomic
from mnist_edge.common.errors import UserError

UNKNOWN = "N"
STATE_CLASSES = ("measurement", "total", "total_increasing")
MAX_FILL_COMBINATIONS = 64  # 2**6 unknown digits: more unknown than that rejects outright


@dataclass(frozen=True)
class ValueRules:
    """The rules of one ``[values.<name>]`` section."""

    decimals: int = 0
    no_decrease: bool = False
    max_rate: float | None = None  # units per minute
    unknown_below: float = 0.0
    fill_unknown: bool = False
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    state_file: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> ValueRules:
        fields = cls.__dataclass_fields__
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise UserError(f"{where}: unknown key {unknown[0]!r} (known: "
                            f"{', '.join(sorted(fields))})")
        try:
            rules = cls(
                decimals=int(d.get("decimals", 0)),
                no_decrease=_bool(d.get("no_decrease", False), f"{where} no_decrease"),
                max_rate=None if d.get("max_rate") is None else float(d["max_rate"]),
                unknown_below=float(d.get("unknown_below", 0.0)),
                fill_unknown=_bool(d.get("fill_unknown", False), f"{where} fill_unknown"),
                unit=None if d.get("unit") is None else str(d["unit"]),
                device_class=None if d.get("device_class") is None else str(d["device_class"]),
                state_class=None if d.get("state_class") is None else str(d["state_class"]),
                state_file=None if d.get("state_file") is None else str(d["state_file"]),
            )
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}: {exc}")
        if rules.decimals < 0:
            raise UserError(f"{where} decimals must be 0 or more, got {rules.decimals}")
        if rules.max_rate is not None and not rules.max_rate > 0:
            raise UserError(f"{where} max_rate must be above 0 (units per minute)")
        if not 0.0 <= rules.unknown_below <= 1.0:
            raise UserError(f"{where} unknown_below must be between 0 and 1")
        if rules.state_class is not None and rules.state_class not in STATE_CLASSES:
            raise UserError(f"{where} state_class must be one of {', '.join(STATE_CLASSES)}")
        return rules

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _bool(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise UserError(f"{what} must be true or false, got {v!r}")
    return v


@dataclass(frozen=True)
class ValueResult:
    """One frame's outcome for one value."""

    name: str
    ok: bool
    raw: str  # the digits as read, N for unknown: "12N4567"
    value: float | None = None  # when ok
    reason: str = ""  # when not ok
    filled: bool = False  # unknown digits were filled from the last good value
    time: float = 0.0

    def text(self, decimals: int) -> str:
        return format_value(self.value, decimals) if self.value is not None else ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": self.ok, "raw": self.raw}
        if self.ok:
            d["value"] = self.value
            if self.filled:
                d["filled"] = True
        else:
            d["reason"] = self.reason
        return d


def format_value(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _number(digits: str, decimals: int) -> float:
    n = int(digits)
    return round(n / 10 ** decimals, decimals) if decimals else float(n)


class ValueTracker:
    """Applies one value's rules frame after frame, remembering the last good value.

    ``state_path`` (or the rules' ``state_file``) keeps ``{"value", "raw", "time"}`` of the
    last good value, written atomically whenever it changes and read back at start.
    """

    def __init__(self, name: str, rules: ValueRules | None = None,
                 state_path: str | os.PathLike[str] | None = None) -> None:
        self.name = name
        self.rules = rules or ValueRules()
        path = state_path if state_path is not None else self.rules.state_file
        self.state_path = Path(path) if path is not None else None
        self.last: ValueResult | None = None
        self.accepted = 0
        self.rejected = 0
        if self.state_path is not None:
            self._load()

    def _load(self) -> None:
        assert self.state_path is not None
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
            value, raw, t = float(data["value"]), str(data["raw"]), float(data["time"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot read the last value of {self.name} from "
                            f"{self.state_path}: {exc}")
        self.last = ValueResult(self.name, True, raw, value, time=t)

    def _save(self) -> None:
        if self.state_path is None or self.last is None:
            return
        atomic.write_json(self.state_path, {"name": self.name, "value": self.last.value,
                                            "raw": self.last.raw, "time": self.last.time})

    def raw(self, digits: Sequence[tuple[int | None, float]]) -> str:
        """The digits as a string, N where unknown (no ink, or below ``unknown_below``)."""
        below = self.rules.unknown_below
        return "".join(UNKNOWN if label is None or conf < below else str(label)
                       for label, conf in digits)

    def update(self, digits: Sequence[tuple[int | None, float]],
               now: float | None = None) -> ValueResult:
        """``digits``: (label or None, confidence) per region, most significant first."""
        now = time.time() if now is None else now
        raw = self.raw(digits)
        result = self._judge(raw, now)
        if result.ok:
            self.accepted += 1
            changed = self.last is None or result.value != self.last.value
            self.last = result
            if changed:
                self._save()
        else:
            self.rejected += 1
        return result

    def _judge(self, raw: str, now: float) -> ValueResult:
        r, last = self.rules, self.last
        filled = False
        if UNKNOWN in raw:
            if not r.fill_unknown:
                return self._reject(raw, now, "unknown digits")
            if last is None:
                return self._reject(raw, now, "unknown digits and no previous value to fill "
                                              "them from")
            if len(last.raw) != len(raw):
                return self._reject(raw, now, f"unknown digits and the previous value has "
                                              f"{len(last.raw)} digits, not {len(raw)}")
            digits = _fill(raw, last.raw, r.decimals, last.value or 0.0)
            if digits is None:
                return self._reject(raw, now, "too many unknown digits")
            filled = True
        else:
            digits = raw
        value = _number(digits, r.decimals)
        if last is not None and last.value is not None:
            if r.no_decrease and value < last.value:
                return self._reject(raw, now, f"decrease from "
                                    f"{format_value(last.value, r.decimals)} to "
                                    f"{format_value(value, r.decimals)}")
            if r.max_rate is not None and value > last.value:
                minutes = max(now - last.time, 1e-3) / 60.0
                rate = (value - last.value) / minutes
                if rate > r.max_rate:
                    return self._reject(raw, now, f"rises {rate:.4g}/min from "
                                        f"{format_value(last.value, r.decimals)} to "
                                        f"{format_value(value, r.decimals)} "
                                        f"(max_rate {r.max_rate:g}/min)")
        return ValueResult(self.name, True, raw, value, filled=filled, time=now)

    def _reject(self, raw: str, now: float, reason: str) -> ValueResult:
        return ValueResult(self.name, False, raw, reason=reason, time=now)

    def status(self) -> dict[str, Any]:
        last = self.last
        return {"accepted": self.accepted, "rejected": self.rejected,
                "last_good": None if last is None else last.value,
                "last_good_time": None if last is None else last.time}


def _fill(raw: str, previous: str, decimals: int, previous_value: float) -> str | None:
    """Unknown digits from ``previous``; the smallest fill that does not decrease, trying each
    unknown digit at its previous digit and one above (mid-roll)."""
    slots = [i for i, c in enumerate(raw) if c == UNKNOWN]
    if 2 ** len(slots) > MAX_FILL_COMBINATIONS:
        return None
    best: tuple[float, str] | None = None
    for bumps in itertools.product((0, 1), repeat=len(slots)):
        chars = list(raw)
        for i, b in zip(slots, bumps, strict=True):
            chars[i] = str((int(previous[i]) + b) % 10)
        digits = "".join(chars)
        value = _number(digits, decimals)
        if value >= previous_value and (best is None or value < best[0]):
            best = (value, digits)
    if best is None:  # every fill decreases: plain fill, the rules decide
        return "".join(previous[i] if c == UNKNOWN else c for i, c in enumerate(raw))
    return best[1]


