"""A per-browser rate limit for a page served to a class: at most `most` actions in any
`seconds`, for each key (a browser's owner id)."""
import threading
import time
from collections import deque

KEYS = 10_000  # keys held before the idle ones are dropped


class Limit:
    def __init__(self, most: int, seconds: float, clock=time.monotonic):
        self.most, self.seconds, self.clock = most, seconds, clock
        self.times: dict[str, deque] = {}  # key -> the times of its actions in the window
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Count one action for `key`: None when allowed, else the seconds until one will be."""
        with self._lock:
            now = self.clock()
            if len(self.times) > KEYS:  # keys made up by a script: forget those now idle
                self.times = {k: t for k, t in self.times.items() if now - t[-1] < self.seconds}
            times = self.times.setdefault(key, deque())
            while times and now - times[0] >= self.seconds:
                times.popleft()
            if len(times) >= self.most:
                return self.seconds - (now - times[0])
            times.append(now)
            return None
