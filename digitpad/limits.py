"""A per-browser rate limit for a page served to a class: at most `most` actions in any
`seconds`, for each key (a browser's owner id)."""
import threading
import time
from collections import deque


class Limit:
    def __init__(self, most: int, seconds: float, clock=time.monotonic):
        self.most, self.seconds, self.clock = most, seconds, clock
        self._times: dict[str, deque] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Count one action for `key`: None when allowed, else the seconds until one will be."""
        with self._lock:
            now = self.clock()
            times = self._times.setdefault(key, deque())
            while times and now - times[0] >= self.seconds:
                times.popleft()
            if len(times) >= self.most:
                return self.seconds - (now - times[0])
            times.append(now)
            return None
