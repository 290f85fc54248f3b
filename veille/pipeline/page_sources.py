"""Page sources: an HTML listing page (a newsroom, a blog index, a section front) polled like a feed.

Each poll fetches the page with conditional GET (the poller's), finds its article links
(:func:`veille.pages.listing.read_listing`) and gives each as an item whose key is the link's canonical URL; new
ones become articles that go through the same page fetch, extraction, matching and alerting as a feed's. A link
carries the title the page gives it and the date it shows near it, if any; the article page's own date fills
in later (:mod:`veille.pipeline.pages`), and its first-seen time is kept.

The first poll follows the backfill rule like a feed's: what is listed already is backlog, unless dated within
the backfill window (an undated link is backlog). Links the page stops showing are kept. Two layout changes are
guarded against:

- a page where no article link is found any more is a recorded source error ("no article links found"), with
  the usual backoff and failing notice, never a flood of every link on the page;
- a poll after the first that finds more than :data:`FLOOD_MIN` new links, and more new links than known ones,
  takes them as backlog, as a first poll would (a newsroom adds a few articles at a time; a page that is all
  new at once has changed layout, or been away for long), and says so in the source's notes.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from veille import http
from veille.feeds.parse import FeedEntry
from veille.pages.fetch import not_html_reason
from veille.pages.listing import ListingLink, read_listing
from veille.pages.urls import url_key
from veille.pipeline.context import Context
from veille.pipeline.feeds import MAX_URL, SourceError, SourceItems
from veille.storage.models import Entry, Feed

log = logging.getLogger(__name__)

FLOOD_MIN = 10  # new links at once past which a poll after the first is looked at twice
NO_LINKS = "no article links found on the page"


def entry_of(link: ListingLink) -> FeedEntry:
    """A listing's link as the poller's item: its key is the link's identity (veille.pages.urls.url_key)."""
    return FeedEntry(key=url_key(link.url), guid=None, link=link.url, title=link.title or "", summary="",
                     content="", published=link.published, author=None)


def any_site_of(feed: Feed) -> bool:
    """The page source's ``any_site`` option: its article links may be on other sites."""
    return bool((feed.options or {}).get("any_site"))


def read_page(s: Session, ctx: Context, feed: Feed, response: http.Response, now: datetime) -> SourceItems:
    content_type = response.headers.get("Content-Type")
    not_html = not_html_reason(content_type, response.content)
    if not_html is not None:
        raise SourceError(f"not an HTML page: {not_html}")
    try:
        listing = read_listing(response.content, response.url, any_site=any_site_of(feed), content_type=content_type)
    except ValueError as exc:
        raise SourceError(f"cannot read the page: {exc}") from exc
    links = [link for link in listing.links if len(link.url) <= MAX_URL]
    if not links:
        raise SourceError(f"{NO_LINKS} (has its layout changed? `veille feeds add {feed.url} --page --dry-run` "
                          "shows what it finds now)")
    entries = tuple(dict((e.key, e) for e in map(entry_of, links)).values())
    notes: tuple[str, ...] = ()
    backlog = False
    if feed.first_ok_at is not None and len(entries) > FLOOD_MIN:
        keys = [e.key for e in entries]
        known = set(s.scalars(select(Entry.key).where(Entry.feed_id == feed.id, Entry.key.in_(keys))))
        new = len(keys) - len(known)
        if new > FLOOD_MIN and new > len(known):
            backlog = True
            notes = (f"{new} new links at once ({len(known)} known): taken as backlog, as on a first poll "
                     "(has the page changed layout?)",)
            log.warning("page source: %d new links at once, taken as backlog", new,
                        extra={"feed_id": feed.id, "feed_url": feed.url, "known": len(known)})
    return SourceItems(entries, title=listing.title, site_url=None, notes=notes, backlog=backlog)
