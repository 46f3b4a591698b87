"""Pipeline step "publish" to a web hook: ``--post URL`` POSTs each value as JSON.

Same contract as MQTT: the reading loop only queues (bounded :class:`Outbox`, oldest dropped
when full); one sender thread POSTs with a timeout and, when the server is away or answers
5xx, waits with backoff (1 s doubling to 30 s) and tries the same message again. A 4xx answer
means the server will never take that message: it is dropped and counted.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from mnist_edge.common.errors import UserError
from mnist_edge.publish import Changes
from mnist_edge.publish.outbox import Outbox

TIMEOUT_S = 5.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 30.0


def check_post_url(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise UserError(f"--post must be an http:// or https:// URL, got {url!r}")
    return url


class WebhookPublisher:
    """POSTs ``{"name", "value", "raw", "time", "frame"}`` (or a rejection) per change."""

    def __init__(self, url: str, *, heartbeat: float = 60.0, queue_size: int = 1000,
                 echo: Any = None) -> None:
        self.url = check_post_url(url)
        self.heartbeat = heartbeat
        self.echo = echo or (lambda _t: None)
        self.outbox: Outbox[bytes] = Outbox(queue_size)
        self.sent = self.refused = 0
        self.ok = True
        self.last_error = ""
        self._stop = threading.Event()
        self._changes = Changes(heartbeat)
        self._thread = threading.Thread(target=self._loop, name="webhook", daemon=True)

    def start(self) -> WebhookPublisher:
        self._thread.start()
        return self

    def on_reading(self, reading: dict[str, Any]) -> None:
        """Queue the bodies ``reading`` has to POST. No I/O."""
        for m in self._changes.due(reading):
            self.outbox.put(json.dumps(m.body).encode())

    def _loop(self) -> None:
        delay = BACKOFF_MIN_S
        while not self._stop.is_set():
            body = self.outbox.get(timeout=0.5)
            if body is None:
                continue
            try:
                req = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                    resp.read()
                self.sent += 1
                self.outbox.done()
                if not self.ok:
                    self.echo(f"post: {self.url} answers again")
                self.ok, delay = True, BACKOFF_MIN_S
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    self.refused += 1
                    self.last_error = f"HTTP {exc.code}"
                    self.outbox.done()
                    continue
                self._failed(body, f"HTTP {exc.code}", delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            except (OSError, ValueError) as exc:
                self._failed(body, str(getattr(exc, "reason", exc)), delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    def _failed(self, body: bytes, why: str, delay: float) -> None:
        if self.ok:
            self.echo(f"post: {self.url} failed ({why}); queueing, retrying")
        self.ok, self.last_error = False, why
        self.outbox.put_front(body)
        self.outbox.done()
        self._stop.wait(delay)

    def stop(self, flush: float = 3.0) -> None:
        deadline = time.monotonic() + flush
        while self.ok and not self.outbox.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self.outbox.close()
        self._thread.join(timeout=TIMEOUT_S + 1)

    def status(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "queued": len(self.outbox), "sent": self.sent,
                "refused": self.refused, "dropped": self.outbox.dropped,
                "last_error": self.last_error}
