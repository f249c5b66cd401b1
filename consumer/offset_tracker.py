"""Per-partition completion tracking: the commit point is the lowest unfinished offset.

Records finish out of order (retries, concurrency); committing past an unfinished record would
lose it on a crash. The tracker keeps the offsets taken, in order, and advances the commit point
only over a contiguous run of finished ones.
"""

from __future__ import annotations

from collections import deque

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Offsets of one partition, taken in increasing order, finished in any order."""

    def __init__(self, start: int | None = None) -> None:
        self._pending: deque[int] = deque()
        self._finished: set[int] = set()
        #: Next offset to commit (everything below is finished); None until known.
        self.commit_point: int | None = start

    def take(self, offset: int) -> None:
        """Record that ``offset`` is now being processed."""
        if self._pending and offset <= self._pending[-1]:
            msg = f"offset {offset} taken out of order (after {self._pending[-1]})"
            raise ValueError(msg)
        if not self._pending and (self.commit_point is None or offset > self.commit_point):
            # Nothing pending: everything before this offset is done (or was never ours).
            self.commit_point = offset
        self._pending.append(offset)

    def finish(self, offset: int) -> bool:
        """Mark ``offset`` finished; True when the commit point moved."""
        self._finished.add(offset)
        moved = False
        while self._pending and self._pending[0] in self._finished:
            done = self._pending.popleft()
            self._finished.discard(done)
            # Offsets between two taken ones (transaction markers, aborted records) are not
            # ours to finish: the commit point jumps to the next pending offset.
            self.commit_point = self._pending[0] if self._pending else done + 1
            moved = True
        return moved

    def skip_to(self, position: int) -> None:
        """Nothing below ``position`` remains for us (e.g. transaction markers): when no offset
        is pending, the commit point may move up to it."""
        if not self._pending and (self.commit_point is None or position > self.commit_point):
            self.commit_point = position

    @property
    def in_flight(self) -> int:
        """Offsets taken and not yet committed-over (finished out of order included)."""
        return len(self._pending)
