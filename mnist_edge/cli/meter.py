"""The meter command and options: ``regions``, and the ``--config`` / ``--mqtt`` / ``--post``
options and plumbing that ``webcam`` (:func:`meter_run`) and ``bundle``/``deploy``
(:func:`check_meter_options`, ``--ansible``) use. No TensorFlow.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from mnist_edge.cli.common import (
    ModelOption,
    RuntimeOption,
    ThreadsOption,
    app,
    fail,
    user_errors,
)

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", help="Meter config (TOML): read these regions (aligned to a reference) and "
                     "make values with rules; see 'mnist-edge regions'.", show_default=False)]
MqttOption = Annotated[str | None, typer.Option(
    "--mqtt", metavar="URL", help="Publish to MQTT with Home Assistant discovery: "
    "mqtt://[user:pass@]host[:port][/prefix], or mqtts://...[?ca=FILE].", show_default=False)]
PostOption = Annotated[str | None, typer.Option(
    "--post", metavar="URL", help="POST each value (or reading) as JSON to this URL.",
    show_default=False)]
StateDirOption = Annotated[Path | None, typer.Option(
    "--state-dir", help="Where relative [values] state_file paths live [default: the current "
                        "folder].", show_default=False)]

AnsibleOption = Annotated[Path | None, typer.Option(
    "--ansible", metavar="DIR", help="Also write an Ansible playbook, inventory example and "
    "ansible.cfg that roll this bundle out to a fleet (see DIR/playbook.yml).",
    show_default=False)]
SerialOption = Annotated[int, typer.Option(
    "--serial", min=1, help="With --ansible: hosts updated at a time (rolling update).")]


def write_ansible_dir(out: Path, info: Any, serial: int) -> None:
    """``bundle --ansible DIR``: the playbook next to a copy of the bundle."""
    from mnist_edge.shipping.ansible import write_ansible

    write_ansible(out, Path(info.path), info.manifest, info.sha256, serial=serial)
    typer.echo(f"  ansible: {out}/playbook.yml (serial {serial}); copy "
               f"{out}/inventory.example.ini to inventory.ini, then: cd {out} && "
               "ansible-playbook playbook.yml")


@dataclass
class MeterHooks:
    """What ``live.run`` gets: the frame reader (None: blob search), the reading hook, and the
    status of the meter and publishers for /status and the summary."""

    read_frame: Callable[[Any], tuple[list[Any], dict[str, Any]]] | None
    on_reading: Callable[[dict[str, Any]], None] | None
    status: Callable[[], dict[str, Any]]

    def add_status_to(self, hub: Any) -> None:
        """Show the meter's values and the publishers' state in the live view's /status (top
        level ``meter`` and ``publish`` keys)."""
        for key in ("meter", "publish"):
            hub.status_extras[key] = functools.partial(lambda k: self.status().get(k), key)


def meter_lines(status: dict[str, Any]) -> list[str]:
    """Summary lines for a meter run: skipped frames, values, what was published."""
    lines = []
    meter = status.get("meter")
    if meter:
        lines.append(f"meter: {meter['skipped']} of {meter['frames']} frames skipped"
                     + (f" (last: {meter['last_skip']})" if meter["skipped"] else ""))
        for name, v in meter["values"].items():
            lines.append(f"value {name}: last good {v['last_good']}, {v['accepted']} accepted, "
                         f"{v['rejected']} rejected")
    for name, p in status.get("publish", {}).items():
        lines.append(f"{name}: {p['sent']} sent, {p['queued']} queued, {p['dropped']} dropped"
                     + (f", last error: {p['last_error']}" if p.get("last_error") else ""))
    return lines


@contextlib.contextmanager
def meter_run(reader: Any, config: Path | None, mqtt: str | None, post: str | None,
              state_dir: Path | None, echo: Callable[[str], None]) -> Iterator[MeterHooks]:
    """Load the config and start the publishers; stop them cleanly (``offline``) at the end."""
    from mnist_edge.publish import Publishers, publishers

    meter = None
    if config is not None:
        from mnist_edge.reading.meter import Meter, load_config

        meter = Meter(load_config(config), reader, state_dir=state_dir)
    pubs = publishers(mqtt, post, meter.config if meter else None, echo=echo) \
        if (mqtt or post) else Publishers({})

    def status() -> dict[str, Any]:
        out: dict[str, Any] = {}
        if meter is not None:
            out["meter"] = meter.status()
        if pubs:
            out["publish"] = pubs.status()
        return out

    try:
        yield MeterHooks(meter.read if meter is not None else None,
                         pubs.on_reading if pubs else None, status)
    finally:
        pubs.stop()


def check_meter_options(config: Path | None, mqtt: str | None, post: str | None
                        ) -> tuple[Path | None, str | None, str | None]:
    """Check what ``bundle``/``deploy`` carry into the service before building anything."""
    if config is not None:
        from mnist_edge.reading.meter import load_config

        load_config(config)
    if mqtt is not None:
        from mnist_edge.publish.mqtt import parse_mqtt_url

        parse_mqtt_url(mqtt, check_files=False)  # ?ca= names a file on the device
    if post is not None:
        from mnist_edge.publish.webhook import check_post_url

        check_post_url(post)
    return config, mqtt, post


def _box_arg(text: str | None, what: str) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        x, y, w, h = (int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise fail(f"{what} must be X,Y,W,H in pixels, got {text!r}")
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise fail(f"{what} must have x, y >= 0 and a positive width and height, got {text!r}")
    return x, y, w, h


def _first_frame(source: str) -> Any:
    from mnist_edge.reading.camera import open_source

    src = open_source(source)
    try:
        for frame in src:
            return frame.image
    finally:
        src.close()
    raise fail(f"--source {source} gave no frame")


@app.command()
@user_errors
def regions(
    source: Annotated[str, typer.Option(
        "--source", "-s", help="A saved frame of the meter (image), or a video/camera/stream "
                               "whose first frame is used.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The config to write (TOML).")
                   ] = Path("meter.toml"),
    area: Annotated[str | None, typer.Option(
        "--area", metavar="X,Y,W,H", help="Look for digits only here (the counter's window); "
                                          "default: the whole frame.", show_default=False)
    ] = None,
    value: Annotated[str, typer.Option(help="Name of the value the digits form (MQTT object "
                                            "id).")] = "value",
    decimals: Annotated[int, typer.Option(min=0, help="Digits after the decimal point.")] = 0,
    align: Annotated[bool, typer.Option(
        "--align/--no-align", help="Save the frame as the reference image and align every "
                                   "frame to it (ORB).")] = True,
    draw: Annotated[Path | None, typer.Option(
        "--draw", help="Also write this PNG: the frame with the regions drawn.",
        show_default=False)] = None,
    model: ModelOption = None,
    invert: Annotated[bool, typer.Option("--invert", help="Light digits on a dark display.")
                      ] = False,
    runtime: RuntimeOption = "auto",
    threads: ThreadsOption = None,
    edit: Annotated[str | None, typer.Option(
        "--edit", metavar="[HOST:]PORT", help="Serve a page to drag the regions on the frame "
        "(the proposed ones to start from); Save writes the config.", show_default=False)
    ] = None,
) -> None:
    """Propose digit regions from a saved frame and write a meter config (TOML).

    Each digit the reader finds becomes one region (its box with a margin), most significant
    first. Adjust them by dragging on a web page (--edit), or edit the file (boxes, rules),
    then run 'mnist-edge webcam --config FILE'.

    Examples:

    \b
      mnist-edge regions --source meter.jpg --out meter.toml --area 100,170,440,130
      mnist-edge regions --source 0 --value gas --decimals 3 --draw regions.png
      mnist-edge regions --source meter.jpg --edit 8080   # open http://127.0.0.1:8080/
    """
    import re

    import cv2

    from mnist_edge.reading.live import save_png
    from mnist_edge.reading.meter import RegionsPlan, regions_summary, save_regions
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.reading.regions import propose_regions

    if not re.fullmatch(r"[A-Za-z0-9_]+", value):
        raise fail(f"--value must be letters, digits and _, got {value!r}")
    if out.suffix != ".toml":
        raise fail(f"--out must end in .toml, got {out}")
    if edit is not None:
        from mnist_edge.web.server import parse_address

        parse_address(edit)  # a typo is reported before the camera opens
    image = _first_frame(source)
    h, w = image.shape[:2]
    box = _box_arg(area, "--area")
    if box is not None and (box[0] + box[2] > w or box[1] + box[3] > h):
        raise fail(f"--area {area} is outside the {w}x{h} frame")
    x0, y0, aw, ah = box or (0, 0, w, h)
    reader = make_reader(model, runtime.value, threads, invert=invert)
    found = propose_regions(reader, image[y0:y0 + ah, x0:x0 + aw])
    boxes = [(bx + x0, by + y0, bw, bh) for bx, by, bw, bh in found]
    plan = RegionsPlan(out, source, value=value, decimals=decimals, align=align)
    if edit is not None:
        read = _edit_regions(edit, plan, image, boxes, reader)
        if read is None:
            raise fail(f"stopped before the regions were saved: {out} not written")
    elif not found:
        raise fail(f"no digits found in {source}" + (" inside --area" if box else
                                                     "; try --area around the digits or --edit"))
    else:
        read = save_regions(plan, image, boxes, reader)
    if draw is not None:
        img = image.copy()
        for d in read:
            bx, by, bw, bh = d.box
            cv2.rectangle(img, (bx, by), (bx + bw - 1, by + bh - 1), (0, 200, 0), 2)
            cv2.putText(img, f"{d.region.name}:{'N' if d.label is None else d.label}",
                        (bx, max(12, by - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1)
        save_png(draw, img)
    reference = f", reference {out.stem}-reference.png" if align else ""
    typer.echo(regions_summary(plan, read) + reference)


def _edit_regions(address: str, plan: Any, image: Any, boxes: list, reader: Any) -> Any:
    """Serve the regions page until the person saves (the regions read) or presses Ctrl-C
    (None: nothing written)."""
    from mnist_edge.reading.meter import regions_summary, save_regions
    from mnist_edge.web.editor import RegionEditor
    from mnist_edge.web.server import build_server

    done: dict[str, Any] = {}

    def save(chosen: list) -> str:
        done["read"] = save_regions(plan, image, chosen, reader)
        return regions_summary(plan, done["read"])

    editor = RegionEditor(image, boxes, save)
    server = build_server(address, editor=editor).start()
    typer.echo(f"drag the regions on {server.url}regions and press Save "
               "(Ctrl-C quits without saving)", err=True)
    try:
        while not editor.saved.wait(0.2):
            pass
    except KeyboardInterrupt:
        return None
    finally:
        server.close()
    return done["read"]
