"""Records at risk of a second delivery, and the member's limit on them (``--max-uncommitted``).

A record is *at risk* from the moment its first request may go out until the group coordinator
acknowledges a commit that covers it (the partition's commit point moved past it, or its offset
is in the commit's completion map). If the member loses its partitions before that, the next
owner starts from the last acknowledged commit and posts the record again.

Commits are asynchronous and normally acknowledged within a cycle or two, so little is at risk.
While the coordinator is unreachable, though (its broker died and the group has not moved yet),
no commit is acknowledged; a member that went on delivering would add every record it finished
to what the group posts twice once the partitions move. So a member holds at most ``limit``
records at risk: past it, records wait for an acknowledgement before their first request, and
a broker failure re-delivers at most ``limit`` records per member.

Acknowledgements are matched to the commit they answer by (offset, metadata): the commit's
state names exactly which records it covers, so an acknowledgement of the automatic commit of
stored offsets counts as well as one of the explicit commit. Only the event loop touches this.
"""

from __future__ import annotations

import asyncio

__all__ = ["PartitionAcks", "UnackedBudget"]


class PartitionAcks:
    """Counts of one partition in one assignment generation."""

    __slots__ = ("finished", "pending", "safe", "started")

    def __init__(self) -> None:
        #: Records whose first request may have gone out.
        self.started = 0
        #: Of those, records finished (their offset in the tracker's finished state).
        self.finished = 0
        #: Of those, records covered by an acknowledged commit.
        self.safe = 0
        #: Commits handed to Kafka and not yet acknowledged: (offset, metadata) -> ``finished``
        #: when the commit was made (every finished record is covered by it).
        self.pending: dict[tuple[int, str], int] = {}

    @property
    def at_risk(self) -> int:
        """Started and not covered by an acknowledged commit."""
        return self.started - self.safe


class UnackedBudget:
    """The member's records at risk, over every partition it holds, against ``limit``."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            msg = f"the limit of records at risk must be at least 1, not {limit}"
            raise ValueError(msg)
        self.limit = limit
        self.at_risk = 0
        self._room = asyncio.Event()
        self._room.set()

    def has_room(self) -> bool:
        """Whether one more record may start now."""
        return self.at_risk < self.limit

    async def wait_for_room(self) -> None:
        """Until one more record may start (an acknowledgement, or a partition released)."""
        while self.at_risk >= self.limit:
            self._room.clear()
            await self._room.wait()

    def started(self, acks: PartitionAcks) -> None:
        """A record's first request may go out now (call when :meth:`has_room`)."""
        acks.started += 1
        self.at_risk += 1

    @staticmethod
    def finished(acks: PartitionAcks) -> None:
        """A started record finished, before the next commit point is computed."""
        acks.finished += 1

    @staticmethod
    def sent(acks: PartitionAcks, offset: int, metadata: str) -> None:
        """A commit of (offset, metadata) is handed to Kafka."""
        acks.pending[(offset, metadata)] = acks.finished

    def acknowledged(self, acks: PartitionAcks, offset: int, metadata: str) -> None:
        """The coordinator acknowledged a commit of (offset, metadata)."""
        covered = acks.pending.get((offset, metadata))
        if covered is None or covered <= acks.safe:
            return  # not a commit of this generation, or one already superseded
        self.at_risk -= covered - acks.safe
        acks.safe = covered
        acks.pending = {k: v for k, v in acks.pending.items() if v > covered}
        self._wake()

    def forget(self, acks: PartitionAcks) -> None:
        """The partition left this member: its records are no longer this member's risk."""
        self.at_risk -= acks.at_risk
        acks.safe = acks.started
        acks.pending.clear()
        self._wake()

    def _wake(self) -> None:
        if self.at_risk < self.limit:
            self._room.set()
