"""A meter config (TOML) and the pipeline it describes: align -> regions -> values.

``mnist-edge webcam --config meter.toml`` reads fixed regions instead of searching the frame.
The file (``mnist-edge regions`` writes a first one)::

    [reference]
    image = "meter-reference.png"   # relative to this file; needed by [align]
    size = [640, 480]               # width, height of the reference frame

    [align]                         # optional (see mnist_edge.reading.align)
    method = "orb"                  # orb | ecc | none
    area = [40, 40, 560, 400]       # the meter's static body in the reference
    max_shift = 80

    [read]
    invert = false                  # true: light digits on a dark display

    [[regions]]                     # one per digit, most significant first
    name = "d1"
    box = [124, 196, 56, 76]        # x, y, w, h in the reference frame
    value = "gas"
    ...

    [values.gas]                    # rules: see mnist_edge.reading.values
    decimals = 3
    no_decrease = true

    [mqtt]                          # optional: how `--mqtt` names things
    node = "kitchen-meter"          # default: the host name
    discovery_prefix = "homeassistant"
    heartbeat = 60                  # s: republish an unchanged value this often (0: every frame)

:class:`Meter` runs the steps on each frame and returns what the live loop needs: the digits
(for the boxes drawn) and the extra JSON (alignment, values with their rules' verdicts).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_edge.common.errors import UserError
from mnist_edge.reading.align import AlignConfig, Aligner, Alignment
from mnist_edge.reading.reader import Digit
from mnist_edge.reading.regions import RegionDigit, RegionReader, RegionsConfig
from mnist_edge.reading.values import ValueResult, ValueRules, ValueTracker

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SECTIONS = {"reference", "align", "read", "regions", "values", "mqtt"}
NODE_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class MqttNaming:
    """The ``[mqtt]`` section: names and pacing for publishing (the broker is ``--mqtt``)."""

    node: str | None = None
    discovery_prefix: str = "homeassistant"
    heartbeat: float = 60.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MqttNaming:
        unknown = sorted(set(d) - {"node", "discovery_prefix", "heartbeat"})
        if unknown:
            raise UserError(f"[mqtt]: unknown key {unknown[0]!r} (known: discovery_prefix, "
                            "heartbeat, node)")
        node = d.get("node")
        if node is not None and not NODE_RE.fullmatch(str(node)):
            raise UserError(f"[mqtt] node must be letters, digits, _ and -, got {node!r}")
        try:
            heartbeat = float(d.get("heartbeat", 60.0))
        except (TypeError, ValueError):
            raise UserError(f"[mqtt] heartbeat must be seconds, got {d.get('heartbeat')!r}")
        return cls(node, str(d.get("discovery_prefix", "homeassistant")), heartbeat)


@dataclass
class MeterConfig:
    """A loaded, checked meter config."""

    path: Path | None
    size: tuple[int, int]
    regions: RegionsConfig
    values: dict[str, ValueRules] = field(default_factory=dict)
    align: AlignConfig | None = None
    reference_image: Path | None = None
    mqtt: MqttNaming = field(default_factory=MqttNaming)

    def rules(self, name: str) -> ValueRules:
        return self.values.get(name, ValueRules())


def load_config(path: str | os.PathLike[str]) -> MeterConfig:
    """Read and check a meter config; every mistake is one :class:`UserError` line."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no such config file: {path}")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}")
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}")
    try:
        return parse_config(data, path)
    except UserError as exc:
        raise UserError(f"{path}: {exc}")


def parse_config(data: dict[str, Any], path: Path | None = None) -> MeterConfig:
    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        raise UserError(f"unknown section [{unknown[0]}] (known: {', '.join(sorted(SECTIONS))})")
    ref = data.get("reference", {})
    unknown = sorted(set(ref) - {"image", "size"})
    if unknown:
        raise UserError(f"[reference]: unknown key {unknown[0]!r} (known: image, size)")
    image = None
    if ref.get("image"):
        image = Path(ref["image"])
        if not image.is_absolute() and path is not None:
            image = path.parent / image
    size = ref.get("size")
    if size is None and image is not None:
        size = list(_image_size(image))
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and v > 0 for v in size)):
        raise UserError(f"[reference] size must be [width, height] in pixels, got {size!r}")
    read = data.get("read", {})
    unknown = sorted(set(read) - {"invert"})
    if unknown:
        raise UserError(f"[read]: unknown key {unknown[0]!r} (known: invert)")
    invert = read.get("invert", False)
    if not isinstance(invert, bool):
        raise UserError(f"[read] invert must be true or false, got {invert!r}")
    regions = RegionsConfig.from_dicts(data.get("regions"), (size[0], size[1]), invert)
    values_data = data.get("values", {})
    if not isinstance(values_data, dict):
        raise UserError("[values] must hold [values.<name>] tables")
    groups = regions.groups()
    values = {}
    for name, section in values_data.items():
        if name not in groups:
            raise UserError(f"[values.{name}]: no region has value = \"{name}\"")
        if not isinstance(section, dict):
            raise UserError(f"[values.{name}] must be a table")
        values[name] = ValueRules.from_dict(section, f"[values.{name}]")
    align = None
    if "align" in data:
        align = AlignConfig.from_dict(data["align"])
        if align.method == "none":
            align = None
        elif image is None:
            raise UserError("[align] needs [reference] image = the reference frame")
    return MeterConfig(path, (size[0], size[1]), regions, values, align, image,
                       MqttNaming.from_dict(data.get("mqtt", {})))


def _image_size(path: Path) -> tuple[int, int]:
    img = read_image(path)
    return img.shape[1], img.shape[0]


def read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if img is None:
        raise UserError(f"cannot read the reference image {path}")
    return img


def config_text(size: tuple[int, int], boxes: list[tuple[int, int, int, int]], *,
                reference: str | None = None, value: str = "value",
                align: AlignConfig | None = None, decimals: int = 0,
                comment: str = "") -> str:
    """A config in TOML (hand-written: no TOML writer needed on the device)."""
    lines = ["# mnist-edge meter config: regions read each frame, in this order.",
             "# Edit the boxes (x, y, w, h in the reference frame), then:",
             "#   mnist-edge webcam --config THIS_FILE", ""]
    if comment:
        lines[0:0] = [f"# {comment}"]
    lines += ["[reference]"]
    if reference is not None:
        lines += [f"image = {_toml_str(reference)}"]
    lines += [f"size = [{size[0]}, {size[1]}]", ""]
    if align is not None:
        lines += ["[align]"]
        for k, v in align.to_dict().items():
            lines += [f"{k} = {_toml_value(v)}"]
        lines += [""]
    lines += ["[read]", "invert = false", ""]
    for i, b in enumerate(boxes, 1):
        lines += ["[[regions]]", f'name = "d{i}"', f"box = [{b[0]}, {b[1]}, {b[2]}, {b[3]}]",
                  f"value = {_toml_str(value)}", ""]
    lines += [f"[values.{value}]", f"decimals = {decimals}", "no_decrease = false",
              "# max_rate = 10.0          # units per minute",
              "# unknown_below = 0.6      # digits less sure than this are N",
              "# fill_unknown = true      # fill N from the last good value (mid-roll)",
              "# unit = \"m³\"", "# state_class = \"total_increasing\"",
              f"# state_file = \"{value}.last.json\"", ""]
    return "\n".join(lines)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


class RegionFrames:
    """The first two steps of a config's pipeline: align a frame to the reference (if
    configured), then cut the regions. :class:`Meter` adds values; ``collect --config`` uses
    these steps alone, so the crops it saves are the windows the meter reads."""

    def __init__(self, config: MeterConfig, reader: Any) -> None:
        self.config = config
        self.regions = RegionReader(reader, config.regions)
        self.aligner = None
        if config.align is not None and config.reference_image is not None:
            self.aligner = Aligner(read_image(config.reference_image), config.align)

    def place(self, image: np.ndarray) -> tuple[Alignment | None, str]:
        """(the frame's alignment, or None without ``[align]``; why it cannot be read, or "").

        A frame that cannot be aligned, or (unaligned) is not the reference's size, must be
        skipped: its regions would cut the wrong pixels."""
        if self.aligner is not None:
            alignment = self.aligner.align(image)
            return alignment, "" if alignment.ok else f"cannot align: {alignment.reason}"
        h, w = image.shape[:2]
        if (w, h) != self.config.size:
            return None, f"frame is {w}x{h}, the config's reference {self.config.size}"
        return None, ""


class Meter(RegionFrames):
    """The per-frame pipeline of a config: align (if configured), read regions, make values."""

    def __init__(self, config: MeterConfig, reader: Any,
                 state_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(config, reader)
        self.trackers: dict[str, ValueTracker] = {}
        for name in config.regions.groups():
            rules = config.rules(name)
            state = rules.state_file
            if state is not None and state_dir is not None and not Path(state).is_absolute():
                state = str(Path(state_dir) / state)
            self.trackers[name] = ValueTracker(name, rules, state)
        self.frames = self.skipped = 0
        self.last_skip = ""

    def read(self, image: np.ndarray, now: float | None = None
             ) -> tuple[list[Digit], dict[str, Any]]:
        """(digits for drawing, extra JSON for the reading line) for one frame."""
        now = time.time() if now is None else now
        self.frames += 1
        alignment, skip = self.place(image)
        if skip:
            self.skipped += 1
            self.last_skip = alignment.reason if alignment is not None else skip
            aligned = {"align": alignment.to_dict()} if alignment is not None else {}
            return [], {"skipped": skip, **aligned}
        matrix = alignment.matrix if alignment is not None else None
        found = self.regions.read(image, matrix)
        extra: dict[str, Any] = {}
        if alignment is not None:
            extra["align"] = alignment.to_dict()
        extra["values"] = {name: r.to_dict() for name, r in self.values(found, now).items()}
        return _digits(found), extra

    def values(self, found: list[RegionDigit], now: float) -> dict[str, ValueResult]:
        out = {}
        for name, idx in self.config.regions.groups().items():
            out[name] = self.trackers[name].update(
                [(found[i].label, found[i].confidence) for i in idx], now)
        return out

    def status(self) -> dict[str, Any]:
        return {"frames": self.frames, "skipped": self.skipped, "last_skip": self.last_skip,
                "values": {n: t.status() for n, t in self.trackers.items()}}


def _digits(found: list[RegionDigit]) -> list[Digit]:
    return [Digit(d.label, d.confidence, d.box, d.probabilities or (0.0,) * 10)
            for d in found if d.label is not None]


@dataclass(frozen=True)
class RegionsPlan:
    """What ``mnist-edge regions`` writes: the config path and the choices around the boxes."""

    out: Path
    source: str
    value: str = "value"
    decimals: int = 0
    align: bool = True


def save_regions(plan: RegionsPlan, image: np.ndarray, boxes: list[tuple[int, int, int, int]],
                 reader: Any) -> list[RegionDigit]:
    """Check ``boxes`` against ``image``, write the config (and, with alignment, the reference
    PNG next to it) atomically, and read the regions once, so the person sees what they give.

    The boxes are checked before anything is written: a bad set (outside the frame, overlapping,
    none) is one :class:`UserError` and the previous config stays as it was."""
    from mnist_edge.common import atomic
    from mnist_edge.reading.live import save_png

    h, w = image.shape[:2]
    RegionsConfig.from_dicts([{"box": list(b)} for b in boxes], (w, h))
    reference = None
    if plan.align:
        ref_path = plan.out.with_name(f"{plan.out.stem}-reference.png")
        save_png(ref_path, image)
        reference = ref_path.name
    text = config_text((w, h), boxes, reference=reference, value=plan.value,
                       align=AlignConfig() if plan.align else None, decimals=plan.decimals,
                       comment=f"regions from {plan.source}")
    atomic.write_text(plan.out, text)
    config = load_config(plan.out)
    return RegionReader(reader, config.regions).read(image)


def reading_text(found: list[RegionDigit]) -> str:
    """The regions' digits as one string, ``N`` where a region holds no digit."""
    return "".join("N" if d.label is None else str(d.label) for d in found)


def regions_summary(plan: RegionsPlan, found: list[RegionDigit]) -> str:
    """What ``regions`` says once a config is saved (the command and the regions page)."""
    return f"{plan.out}: {len(found)} regions, reading {reading_text(found)}"
