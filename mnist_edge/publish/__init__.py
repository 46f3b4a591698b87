"""Publishing readings: MQTT (:mod:`.mqtt`, Home Assistant discovery) and web hooks
(:mod:`.webhook`). :func:`publishers` builds what the ``--mqtt`` / ``--post`` options ask for;
:class:`Publishers` fans each reading out to them and reports their state for ``/status``.
Nothing here imports TensorFlow or blocks the reading loop."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mnist_edge.common.errors import UserError


@dataclass(frozen=True)
class Message:
    """One thing a reading line has to publish: ``key`` (``reading``, a value's name, or
    ``<name>/rejected``), ``change`` (what makes it news: the text, the value, the reason),
    its JSON ``body`` and whether a broker should keep it for late subscribers."""

    key: str
    change: Any
    body: dict[str, Any]
    retain: bool


def messages(reading: dict[str, Any]) -> list[Message]:
    """What a live-loop line publishes: each value (or its rejection with the reason), or, with
    no meter config, the digits read as one text. The same bodies go to MQTT and web hooks."""
    common = {"time": reading.get("time"), "frame": reading.get("frame")}
    values = reading.get("values")
    if values is None:
        if "skipped" in reading:
            return []
        text = "".join(str(d["label"]) for d in reading.get("digits", []))
        return [Message("reading", text, {"name": "reading", "reading": text, **common}, True)]
    out = []
    for name, v in values.items():
        if v.get("ok"):
            out.append(Message(name, v["value"], {"name": name, "value": v["value"],
                                                  "raw": v["raw"], **common}, True))
        else:
            out.append(Message(f"{name}/rejected", v.get("reason"),
                               {"name": name, "raw": v.get("raw"), "reason": v.get("reason"),
                                **common}, False))
    return out


class Changes:
    """The messages of each reading that are due: what changed, and what has not changed for
    ``heartbeat`` seconds (0: every reading), so a broker is not flooded with repeats."""

    def __init__(self, heartbeat: float) -> None:
        self.heartbeat = heartbeat
        self._last: dict[str, tuple[Any, float]] = {}

    def due(self, reading: dict[str, Any]) -> list[Message]:
        now = time.monotonic()
        out = []
        for m in messages(reading):
            last = self._last.get(m.key)
            if last is not None and last[0] == m.change and now - last[1] < self.heartbeat:
                continue
            self._last[m.key] = (m.change, now)
            out.append(m)
        return out


class Publishers:
    """Several publishers behind one ``on_reading`` / ``stop`` / ``status``."""

    def __init__(self, items: dict[str, Any]) -> None:
        self.items = items

    def on_reading(self, reading: dict[str, Any]) -> None:
        for p in self.items.values():
            p.on_reading(reading)

    def stop(self) -> None:
        for p in self.items.values():
            p.stop()

    def status(self) -> dict[str, Any]:
        return {name: p.status() for name, p in self.items.items()}

    def __bool__(self) -> bool:
        return bool(self.items)


def publishers(mqtt_url: str | None, post_url: str | None, meter_config: Any = None, *,
               echo: Any = None, queue_size: int = 1000, start_wait: float = 5.0
               ) -> Publishers:
    """Started publishers for ``--mqtt`` / ``--post`` (either may be None).

    ``meter_config`` (a :class:`~mnist_edge.reading.meter.MeterConfig`) names the values and
    their units; without one the plain reading is published. Bad URLs and a refused login
    raise :class:`UserError` before anything is started.
    """
    from mnist_edge.publish.mqtt import MqttPublisher, Sensor, parse_mqtt_url
    from mnist_edge.publish.webhook import WebhookPublisher, check_post_url

    target = parse_mqtt_url(mqtt_url) if mqtt_url else None
    if post_url:
        check_post_url(post_url)
    naming = getattr(meter_config, "mqtt", None)
    heartbeat = naming.heartbeat if naming is not None else 60.0
    items: dict[str, Any] = {}
    if target is not None:
        if meter_config is not None:
            sensors = []
            for name in meter_config.regions.groups():
                r = meter_config.rules(name)
                sensors.append(Sensor(name, r.unit, r.state_class, r.device_class))
        else:
            sensors = [Sensor("reading")]
        items["mqtt"] = MqttPublisher(
            target, sensors, node=naming.node if naming else None,
            discovery_prefix=naming.discovery_prefix if naming else "homeassistant",
            heartbeat=heartbeat, queue_size=queue_size, echo=echo).start(start_wait)
    if post_url:
        try:
            items["post"] = WebhookPublisher(post_url, heartbeat=heartbeat,
                                             queue_size=queue_size, echo=echo).start()
        except UserError:
            for p in items.values():
                p.stop()
            raise
    return Publishers(items)
