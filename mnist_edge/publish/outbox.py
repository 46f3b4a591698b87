"""A bounded, thread-safe outbox: the reading loop drops messages in and never waits.

The loop calls :meth:`Outbox.put` (a lock held for microseconds, no I/O); a sender thread takes
messages out when its connection is up. When the outbox is full the *oldest* message is
dropped (and counted): after an outage the newest readings matter most, and memory stays
bounded however long the broker or web hook is away.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Outbox(Generic[T]):
    """A deque of at most ``size`` items with counters; :meth:`get` blocks the sender only."""

    def __init__(self, size: int = 1000) -> None:
        if size < 1:
            raise ValueError("outbox size must be at least 1")
        self.size = size
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self.put_count = 0
        self.dropped = 0
        self.busy = 0  # items taken by get() and not yet marked done()
        self._closed = False

    def put(self, item: T) -> None:
        """Add ``item``; drops the oldest one when full. Never blocks on I/O."""
        with self._cond:
            if len(self._items) >= self.size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.put_count += 1
            self._cond.notify()

    def put_front(self, item: T) -> None:
        """Give ``item`` back (a send failed): it goes out first next time."""
        with self._cond:
            if len(self._items) >= self.size:
                self.dropped += 1
                return
            self._items.appendleft(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` s; None on timeout or when closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None
            self.busy += 1
            return self._items.popleft()

    def done(self) -> None:
        """The sender has dealt with an item from :meth:`get` (sent, or given back)."""
        with self._cond:
            self.busy -= 1

    def idle(self) -> bool:
        """Nothing queued and nothing being handed over by the sender."""
        with self._cond:
            return not self._items and self.busy == 0

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
