"""A provider's request rule across processes: at most one request every ``spacing`` seconds (GDELT: 5).

The provider's next free slot is one row of the ``heartbeats`` table (name ``search-slot:<provider>``, kind
``slot``, ``seen_at`` the slot), claimed with a conditional UPDATE as the Slack flood control claims a
channel's send slot (:func:`veille.pipeline.outbox.reserve_slot`): concurrent pollers, in any process on any
host sharing the database, get distinct slots and wait for theirs. A slot further away than ``max_wait`` is
not claimed: the source is put off until then (:class:`ProviderBusy`, a "deferred" poll).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from veille import http
from veille.pipeline.context import _insert
from veille.storage.db import Database, rowcount
from veille.storage.models import Heartbeat, utcnow

log = logging.getLogger(__name__)

MAX_WAIT = 20.0  # seconds a poll waits at most for its provider's slot; further slots put the source off
KIND = "slot"


class ProviderBusy(http.HostDeferredError):
    """The provider's next free slot is too far away: the source waits for it without asking."""

    def __init__(self, provider: str, spacing: float, wait: float) -> None:
        http.FetchError.__init__(
            self, f"{provider} takes one request every {spacing:g}s: next free slot in {wait:.0f}s",
            transient=True, retry_after=wait,
        )
        self.host = provider


def slot_name(provider: str) -> str:
    return f"search-slot:{provider}"


def reserve(db: Database, provider: str, spacing: float, *, max_wait: float = MAX_WAIT,
            now: datetime | None = None) -> tuple[datetime, bool]:
    """Claim the provider's next slot (``spacing`` seconds after the previous one). Returns (slot, claimed); a
    slot more than ``max_wait`` away is not claimed."""
    name = slot_name(provider)

    def work(s: Session) -> tuple[datetime, bool]:
        start = now or utcnow()
        s.execute(_insert(s, Heartbeat).values(name=name, kind=KIND, started_at=start, seen_at=start)
                  .on_conflict_do_nothing(index_elements=[Heartbeat.name]))
        for _ in range(50):
            current = s.scalar(select(Heartbeat.seen_at).where(Heartbeat.name == name))
            moment = now or utcnow()
            slot = max(moment, current) if current is not None else moment
            if (slot - moment).total_seconds() > max_wait:
                return slot, False
            claimed = rowcount(s.execute(
                update(Heartbeat).where(Heartbeat.name == name, Heartbeat.seen_at == current)
                .values(seen_at=slot + timedelta(seconds=spacing))
            ))
            if claimed == 1:
                return slot, True
        return (now or utcnow()) + timedelta(seconds=spacing), False

    return db.run(work)


async def wait_turn(db: Database, provider: str, spacing: float, *, max_wait: float = MAX_WAIT) -> None:
    """Wait for the provider's next slot; :class:`ProviderBusy` when it is more than ``max_wait`` away."""
    if spacing <= 0:
        return
    slot, claimed = await asyncio.to_thread(reserve, db, provider, spacing, max_wait=max_wait)
    wait = (slot - utcnow()).total_seconds()
    if not claimed:
        raise ProviderBusy(provider, spacing, max(wait, spacing))
    if wait > 0:
        log.debug("waiting for the provider's slot", extra={"provider": provider, "seconds": round(wait, 1)})
        await asyncio.sleep(wait)
