"""A real Mosquitto broker for tests: Debian's ``mosquitto`` on a free loopback port, with a
config (and password file) the test writes, stopped by its PID; and a paho subscriber that
records every message it sees."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """``mosquitto -c CONFIG`` on 127.0.0.1:``port``; ``users`` turns on passwords."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 # started as root, mosquitto would switch to its own user, which cannot
                 # write into the test's folder
                 *(["user root"] if os.geteuid() == 0 else []),
                 f"persistence_location {self.dir}/", "autosave_interval 1",
                 f"log_dest file {self.dir / 'mosquitto.log'}", "log_type all"]
        if users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        """SIGTERM by PID (mosquitto saves its persistence file), then wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def url(self, prefix: str = "", auth: str = "") -> str:
        return f"mqtt://{auth + '@' if auth else ''}127.0.0.1:{self.port}" + \
            (f"/{prefix}" if prefix else "")


class Subscriber:
    """A paho client subscribed to ``topics`` with a persistent session (QoS 1), so messages
    published while it is reconnecting after a broker restart still reach it."""

    def __init__(self, port: int, topics: list[str], auth: tuple[str, str] | None = None,
                 client_id: str = "test-subscriber") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.RLock()
        self.topics = topics
        self.connected = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        clean_session=False, protocol=mqtt.MQTTv311)
        if auth:
            c.username_pw_set(*auth)
        c.reconnect_delay_set(0.2, 1)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: self.connected.clear()
        c.on_message = self._on_message
        self.client = c
        c.connect("127.0.0.1", port, 30)
        c.loop_start()
        assert self.connected.wait(10), "subscriber could not connect"

    def _on_connect(self, client, userdata, flags, rc, props) -> None:
        if not rc.is_failure:
            for t in self.topics:
                client.subscribe(t, qos=1)
            time.sleep(0.05)
            self.connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.messages)):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
