"""Per-partition completion tracking: the commit point, and what is finished beyond it.

Records finish out of order (retries, concurrency); committing past an unfinished record would
lose it on a crash. The tracker keeps the offsets taken, in order, and advances the commit point
only over a contiguous run of finished ones.

What finished *beyond* the commit point (behind a record still in retry, say) travels in the
commit's metadata as a completion map (Confluent Parallel Consumer's technique): a member that
takes the partition over, or restarts, reads it back and skips those records instead of posting
them again. So a crash re-delivers only what was in flight — records started and not finished.

The map is the set of finished offsets relative to the commit point, written as whichever is
shorter of two encodings, base64url without padding after a tag:

- ``vl1r:`` run lengths, as LEB128 varints: unfinished run, finished run, unfinished run, …
  (a few bytes when finished records come in runs, the usual case);
- ``vl1b:`` a bitset, bit *i* set when ``commit point + i`` is finished.

The bitset's length depends only on the span (the highest finished offset minus the commit
point), so a member that never starts a record ``span`` or more beyond its commit point always
has a map that fits: :func:`span_for` is the largest span whose bitset fits the broker's
``offset.metadata.max.bytes`` (4,096 by default: 24,544 offsets).
"""

from __future__ import annotations

import base64
import binascii
from collections import deque
from collections.abc import Iterable

__all__ = ["OffsetTracker", "decode_completed", "encode_completed", "span_for"]

_RUNS = "vl1r:"
_BITS = "vl1b:"


def span_for(metadata_bytes: int) -> int:
    """How far beyond the commit point records may finish and still fit ``metadata_bytes``."""
    chars = metadata_bytes - len(_BITS)
    if chars < 4:
        msg = f"commit metadata of {metadata_bytes} bytes leaves no room for a completion map"
        raise ValueError(msg)
    return (chars * 3 // 4) * 8


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _varints(data: bytes) -> list[int]:
    values: list[int] = []
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        values.append(value)
        value = shift = 0
    if shift:
        msg = "truncated varint"
        raise ValueError(msg)
    return values


def encode_completed(commit_point: int, offsets: Iterable[int]) -> str:
    """The map of ``offsets`` finished at or beyond ``commit_point`` ("" when there are none)."""
    rel = sorted({o - commit_point for o in offsets if o >= commit_point})
    if not rel:
        return ""
    runs = bytearray()
    position = 0  # next relative offset not yet described
    i = 0
    while i < len(rel):
        start = rel[i]
        end = start + 1
        i += 1
        while i < len(rel) and rel[i] == end:
            end += 1
            i += 1
        _varint(start - position, runs)  # unfinished run (may be 0 at the very start)
        _varint(end - start, runs)  # finished run
        position = end
    bits = bytearray((rel[-1] >> 3) + 1)
    for r in rel:
        bits[r >> 3] |= 1 << (r & 7)
    as_runs, as_bits = _RUNS + _b64(bytes(runs)), _BITS + _b64(bytes(bits))
    return as_runs if len(as_runs) <= len(as_bits) else as_bits


def decode_completed(commit_point: int, text: str | None) -> frozenset[int]:
    """The finished offsets a map says; raises ValueError when ``text`` is not one of ours."""
    if not text:
        return frozenset()
    try:
        if text.startswith(_RUNS):
            values = _varints(_unb64(text[len(_RUNS) :]))
            out: set[int] = set()
            position = commit_point
            # strict: an odd count (a gap without its run) is not a map of ours
            for gap, length in zip(values[::2], values[1::2], strict=True):
                position += gap
                out.update(range(position, position + length))
                position += length
            return frozenset(out)
        if text.startswith(_BITS):
            bits = _unb64(text[len(_BITS) :])
            return frozenset(
                commit_point + (i << 3) + b
                for i, byte in enumerate(bits)
                if byte
                for b in range(8)
                if byte >> b & 1
            )
    except (binascii.Error, ValueError) as exc:
        msg = f"not a completion map: {exc}"
        raise ValueError(msg) from exc
    msg = "not a completion map (unknown tag)"
    raise ValueError(msg)


class OffsetTracker:
    """Offsets of one partition, taken in increasing order, finished in any order.

    ``span``: records at ``commit point + span`` or beyond may not be started
    (:meth:`within_span`), which keeps the completion map within the commit metadata's room.
    """

    def __init__(self, start: int | None = None, *, span: int | None = None) -> None:
        self._pending: deque[int] = deque()
        self._finished: set[int] = set()
        #: Finished by a previous owner (read from the committed map), not yet seen here.
        self._done_before: set[int] = set()
        #: Next offset to commit (everything below is finished); None until known.
        self.commit_point: int | None = start
        self.span = span

    def restore(self, commit_point: int, completed: Iterable[int]) -> None:
        """Start from a committed point and the map committed with it (before any take)."""
        if self._pending:
            return  # records already taken from a known point: the map came too late to use
        if self.commit_point is None or commit_point >= self.commit_point:
            self.commit_point = commit_point
        self._done_before = {o for o in completed if o >= self.commit_point}

    def take(self, offset: int) -> bool:
        """Record that ``offset`` is now being processed; False when a previous owner already
        finished it (it is then finished here too, and must not be processed again)."""
        if self._pending and offset <= self._pending[-1]:
            msg = f"offset {offset} taken out of order (after {self._pending[-1]})"
            raise ValueError(msg)
        if not self._pending and (self.commit_point is None or offset > self.commit_point):
            # Nothing pending: everything before this offset is done (or was never ours).
            self.commit_point = offset
        self._pending.append(offset)
        if offset in self._done_before:
            self._done_before.discard(offset)
            self.finish(offset)
            return False
        return True

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

    def within_span(self, offset: int) -> bool:
        """Whether ``offset`` may be started now without outgrowing the completion map."""
        point = self.commit_point
        return self.span is None or point is None or offset - point < self.span

    def completion_map(self) -> str:
        """The commit metadata for the current commit point ("" when nothing is ahead)."""
        point = self.commit_point
        if point is None or not (self._finished or self._done_before):
            return ""
        return encode_completed(point, self._finished | self._done_before)

    @property
    def in_flight(self) -> int:
        """Offsets taken and not yet committed-over (finished out of order included)."""
        return len(self._pending)
