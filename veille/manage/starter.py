"""The starter lists: feeds and a watchlist an empty database is seeded with (`veille init --starter`,
`make run`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veille.manage.entities import stored_entity
from veille.pipeline.context import Context
from veille.storage.models import Entity, Feed

STARTER_OPML = "starter-feeds.opml"
STARTER_WATCHLIST = "starter-watchlist.json"


@dataclass(frozen=True, slots=True)
class Seeded:
    feeds: int
    entities: int


def load_starter(ctx: Context) -> Seeded | None:
    """Seed an empty database with the starter feeds and watchlist; None (nothing loaded) when it already has
    feeds or entities."""
    from veille.feeds.opml import parse_opml

    data = resources.files("veille") / "data"
    feeds = parse_opml(data.joinpath(STARTER_OPML).read_bytes()).feeds
    watchlist = json.loads(data.joinpath(STARTER_WATCHLIST).read_text(encoding="utf-8"))

    def seed(s: Session) -> Seeded | None:
        if s.scalar(select(func.count()).select_from(Feed)) or s.scalar(select(func.count()).select_from(Entity)):
            return None
        for item in feeds:  # feeds, and the labs' newsroom pages where a lab has no feed (page sources)
            s.add(Feed(url=item.url, title=item.title, tags=list(item.tags), interval=ctx.settings.poll_interval,
                       kind=item.kind, options={"any_site": item.any_site} if item.kind == "page" else {}))
        for entry in watchlist:
            s.add(stored_entity(entry))
        return Seeded(len(feeds), len(watchlist))

    return ctx.db.run(seed)
