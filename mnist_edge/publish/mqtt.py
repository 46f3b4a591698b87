"""Pipeline step "publish" to MQTT, with Home Assistant discovery (paho-mqtt 2.x).

``--mqtt mqtt://[user:pass@]host[:port][/prefix]`` (``mqtts://`` for TLS, with
``?ca=/path/ca.pem`` for a private CA). With node ``N`` (``[mqtt] node``, default the host name)
and prefix ``P`` (default ``mnist-edge``):

* ``P/N/availability``: ``online`` (retained) once connected; ``offline`` as the last will (the
  broker says it when the Pi vanishes) and on a clean stop;
* ``P/N/<value>``: the state, JSON ``{"value", "raw", "time", "frame"}``, retained, for each
  accepted value (``[values.<name>]``); without values, ``P/N/reading`` with the digits read;
* ``P/N/<value>/rejected``: ``{"raw", "reason", "time", "frame"}`` for readings the rules
  rejected (never on the state topic);
* ``homeassistant/sensor/N/<value>/config``: retained discovery configs (``state_topic``,
  ``value_template``, ``unique_id``, ``device``, ``availability_topic``, and
  ``unit_of_measurement`` / ``state_class`` / ``device_class`` where the value has them).

A value is published when it changes, and unchanged every ``[mqtt] heartbeat`` s.

The reading loop only puts messages into a bounded :class:`~mnist_edge.publish.outbox.Outbox`
(no network I/O on its thread). A sender thread publishes them with QoS 1 while connected; paho
reconnects with backoff (1 s doubling to 30 s) and re-sends unacknowledged messages. When the
broker is away the outbox fills; beyond its size the oldest messages are dropped and counted.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_edge import __version__
from mnist_edge.common.errors import UserError
from mnist_edge.publish import Changes
from mnist_edge.publish.outbox import Outbox

DEFAULT_PREFIX = "mnist-edge"
MAX_INFLIGHT = 20
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
KEEPALIVE_S = 30
START_WAIT_S = 5.0  # at start, wait this long to learn whether the broker accepts the login
AUTH_CODES = {4, 5, 134, 135}  # v3.1.1 bad user name or password / not authorised; v5 too

Message = tuple[str, bytes, bool]  # topic, payload, retain
Echo = Callable[[str], None]


@dataclass(frozen=True)
class MqttTarget:
    """A parsed ``--mqtt`` URL."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    prefix: str = DEFAULT_PREFIX
    ca_file: Path | None = None

    @property
    def display(self) -> str:
        """The URL without the password (for logs and /status)."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str, check_files: bool = True) -> MqttTarget:
    """``mqtt://[user:pass@]host[:port][/prefix]`` or ``mqtts://...[?ca=FILE]``
    (``check_files=False``: the CA file is on another machine, the device)."""
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as exc:
        raise UserError(f"--mqtt {url!r}: {exc}")
    if u.scheme not in ("mqtt", "mqtts"):
        raise UserError(f"--mqtt must start with mqtt:// or mqtts://, got {url!r}")
    if not u.hostname:
        raise UserError(f"--mqtt {url!r} names no host (mqtt://host[:port][/prefix])")
    prefix = urllib.parse.unquote(u.path.strip("/")) or DEFAULT_PREFIX
    if any(c in prefix for c in "+#") or "//" in prefix:
        raise UserError(f"--mqtt topic prefix {prefix!r} must not hold +, # or empty levels")
    query = urllib.parse.parse_qs(u.query)
    unknown = sorted(set(query) - {"ca"})
    if unknown:
        raise UserError(f"--mqtt: unknown option ?{unknown[0]}= (known: ca)")
    ca = Path(query["ca"][0]) if "ca" in query else None
    tls = u.scheme == "mqtts"
    if ca is not None:
        if not tls:
            raise UserError("--mqtt ?ca= needs mqtts://")
        if check_files and not ca.is_file():
            raise UserError(f"--mqtt CA file {ca}: no such file")
    return MqttTarget(
        host=u.hostname, port=port or (8883 if tls else 1883), tls=tls,
        username=urllib.parse.unquote(u.username) if u.username else None,
        password=urllib.parse.unquote(u.password) if u.password is not None else None,
        prefix=prefix, ca_file=ca)


def default_node() -> str:
    """The host name, as a topic- and id-safe word."""
    name = socket.gethostname().split(".")[0]
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return safe or "mnist-edge"


@dataclass(frozen=True)
class Sensor:
    """One published object: a value of the config, or the plain reading."""

    name: str
    unit: str | None = None
    state_class: str | None = None
    device_class: str | None = None


def discovery_config(target: MqttTarget, node: str, sensor: Sensor,
                     discovery_prefix: str = "homeassistant") -> tuple[str, dict[str, Any]]:
    """(topic, payload) of a Home Assistant MQTT discovery config for ``sensor``."""
    base = f"{target.prefix}/{node}"
    key = "reading" if sensor.name == "reading" else "value"
    payload: dict[str, Any] = {
        "name": sensor.name,
        "unique_id": f"mnist-edge_{node}_{sensor.name}",
        "object_id": f"{node}_{sensor.name}",
        "state_topic": f"{base}/{sensor.name}",
        "value_template": f"{{{{ value_json.{key} }}}}",
        "json_attributes_topic": f"{base}/{sensor.name}",
        "availability_topic": f"{base}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {"identifiers": [f"mnist-edge_{node}"], "name": node,
                   "manufacturer": "mnist-edge", "model": "camera digit reader",
                   "sw_version": __version__},
    }
    if sensor.unit:
        payload["unit_of_measurement"] = sensor.unit
    if sensor.state_class:
        payload["state_class"] = sensor.state_class
    if sensor.device_class:
        payload["device_class"] = sensor.device_class
    return f"{discovery_prefix}/sensor/{node}/{sensor.name}/config", payload


class MqttPublisher:
    """Publishes readings to one broker without ever blocking the caller."""

    def __init__(self, target: MqttTarget, sensors: list[Sensor], *, node: str | None = None,
                 discovery_prefix: str = "homeassistant", heartbeat: float = 60.0,
                 queue_size: int = 1000, echo: Echo | None = None,
                 client_id: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        self.target = target
        self.node = node or default_node()
        self.sensors = sensors
        self.discovery_prefix = discovery_prefix
        self.heartbeat = heartbeat
        self.echo = echo or (lambda _t: None)
        self.base = f"{target.prefix}/{self.node}"
        self.availability_topic = f"{self.base}/availability"
        self.outbox: Outbox[Message] = Outbox(queue_size)
        self.sent = 0
        self.reconnects = 0
        self.connected = False
        self.last_error = ""
        self._connects = 0
        self._first = threading.Event()
        self._first_rc: Any = None
        self._inflight: set[int] = set()  # our messages paho has not had acknowledged
        self._early: set[int] = set()  # acknowledged before the sender recorded them
        self._direct: set[int] = set()  # discovery/availability, published outside the outbox
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._changes = Changes(heartbeat)
        self._sender: threading.Thread | None = None
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=client_id or f"mnist-edge-{self.node}",
                        protocol=mqtt.MQTTv311)
        if target.username:
            c.username_pw_set(target.username, target.password)
        if target.tls:
            c.tls_set(ca_certs=str(target.ca_file) if target.ca_file else None)
        c.will_set(self.availability_topic, "offline", qos=1, retain=True)
        c.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        c.max_inflight_messages_set(MAX_INFLIGHT)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_connect_fail = self._on_connect_fail
        self.client = c

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, wait: float = START_WAIT_S) -> MqttPublisher:
        """Connect in the background; wait up to ``wait`` s for the broker's answer so a wrong
        password is one error line at start (an unreachable broker is not: it is retried)."""
        try:
            self.client.connect_async(self.target.host, self.target.port, KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            raise UserError(f"mqtt: cannot connect to {self.target.display}: {exc}")
        self.client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender",
                                        daemon=True)
        self._sender.start()
        if self._first.wait(wait) and self._first_rc is not None and self._first_rc.is_failure:
            rc = self._first_rc
            self._shutdown()
            if rc.value in AUTH_CODES:
                raise UserError(f"mqtt: {self.target.display} refused the login: {rc}")
            raise UserError(f"mqtt: {self.target.display} refused the connection: {rc}")
        if not self.connected:
            self.echo(f"mqtt: {self.target.display} not reachable yet "
                      f"({self.last_error or 'no answer'}); readings are queued, retrying")
        return self

    def stop(self, flush: float = 3.0) -> None:
        """Send what is queued (up to ``flush`` s), say ``offline``, disconnect."""
        deadline = time.monotonic() + flush
        while self.connected and time.monotonic() < deadline:
            with self._lock:
                idle = not self._inflight
            if idle and self.outbox.idle():  # idle() also covers a message being handed over
                with self._lock:
                    if not self._inflight:
                        break
            time.sleep(0.02)
        if self.connected:
            info = self.client.publish(self.availability_topic, "offline", qos=1, retain=True)
            with self._lock:
                self._direct.add(info.mid)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(0.5, deadline - time.monotonic()))
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        self.outbox.close()
        if self._sender is not None:
            self._sender.join(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    # -- the reading loop's side -----------------------------------------------------------------

    def on_reading(self, reading: dict[str, Any]) -> None:
        """Queue what ``reading`` (a live-loop line) has to publish. No I/O; microseconds."""
        for m in self._changes.due(reading):
            self.outbox.put((f"{self.base}/{m.key}", json.dumps(m.body).encode(), m.retain))

    # -- paho callbacks (its network thread) -----------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self.last_error = str(rc)
            if self._first.is_set():
                self.echo(f"mqtt: {self.target.display} refused the connection: {rc}")
            self._first_rc = rc
            self._first.set()
            return
        self._connects += 1
        if self._connects > 1:
            self.reconnects += 1
        # discovery and availability first, straight to paho (not counted in the outbox)
        mids = []
        for sensor in self.sensors:
            topic, payload = discovery_config(self.target, self.node, sensor,
                                              self.discovery_prefix)
            mids.append(client.publish(topic, json.dumps(payload), qos=1, retain=True).mid)
        mids.append(client.publish(self.availability_topic, "online", qos=1, retain=True).mid)
        with self._lock:
            self._direct.update(mids)
            self.connected = True
            self._wake.notify_all()
        self.outbox.wake()
        self.echo(f"mqtt: connected to {self.target.display}")
        self._first_rc = rc
        self._first.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any,
                       props: Any) -> None:
        with self._lock:
            was = self.connected
            self.connected = False
            stopping = self._stopping
        if was and not stopping:
            self.last_error = f"connection lost ({rc})"
            self.echo(f"mqtt: lost {self.target.display} ({rc}); queueing, reconnecting")

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self.last_error = "cannot connect"

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._lock:
            if mid in self._direct:
                self._direct.discard(mid)
            elif mid in self._inflight:
                self._inflight.discard(mid)
                self.sent += 1
                self._wake.notify_all()
            else:
                self._early.add(mid)

    # -- the sender thread -----------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (not self.connected
                                              or len(self._inflight) >= MAX_INFLIGHT):
                    self._wake.wait(0.5)
                if self._stopping:
                    return
            msg = self.outbox.get(timeout=0.5)
            if msg is None:
                continue
            topic, payload, retain = msg
            # not under self._lock: paho calls on_publish holding its own message lock
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            if info.rc not in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):
                self.last_error = f"publish failed: {self._mqtt.error_string(info.rc)}"
                self.outbox.put_front(msg)
                self.outbox.done()
                continue
            with self._lock:  # paho keeps a QoS 1 message and re-sends it after a reconnect
                if info.mid in self._early:  # acknowledged before publish() returned
                    self._early.discard(info.mid)
                    self.sent += 1
                else:
                    self._inflight.add(info.mid)
            self.outbox.done()

    def status(self) -> dict[str, Any]:
        """For ``/status`` and the summary."""
        with self._lock:
            inflight = len(self._inflight)
        return {"broker": self.target.display, "node": self.node, "connected": self.connected,
                "queued": len(self.outbox), "in_flight": inflight, "sent": self.sent,
                "dropped": self.outbox.dropped, "reconnects": self.reconnects,
                "last_error": self.last_error}
