"""Google News RSS search: best effort, off by default (undocumented; its terms allow personal feed readers).

Request: ``{VEILLE_GOOGLE_NEWS_URL}/rss/search?q=...&hl=fr&gl=FR&ceid=FR:fr``; the query is Google's syntax
(quoted phrases, ``OR``, ``-word``) with ``when:7d``, so that an old article the ranking brings up late is not
news. Answer: RSS 2.0; an item's title is ``"Headline - Publisher"``, its ``<source>`` the publisher, its
``<guid>`` Google's id, and no text at all. A query Google refuses answers a feed whose one item is "This feed
is not available." (:class:`SearchError`).

Since mid-2024 an item's ``<link>`` (``news.google.com/rss/articles/CBMi...``) no longer encodes the publisher's
URL, and no redirect leads there without running Google's JavaScript. So the link is stored as the article's URL
and resolved lazily, when its page is fetched like any article's (the guarded client follows its redirects;
:func:`veille.search.links.unresolved`): a link that leaves Google is the publisher's article; one that stays
is a normal outcome, the article then matched on its title alone, its alert linking to the Google News page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from veille import http
from veille.search.base import Hit, Provider, SearchError, SearchTerms, any_of, phrase
from veille.search.languages import google_edition

UNAVAILABLE = "news:unfepa"  # the guid of the item Google answers for a query it refuses
ARTICLE_PATHS = ("/rss/articles/", "/articles/", "/__i/rss/rd/articles/")
RECENT = "when:7d"


class GoogleNews(Provider):
    name = "google-news"
    label = "Google News"
    spacing = 2.0  # undocumented limits: one request every two seconds at most, across processes
    names_publishers = True

    def queries(self, terms: SearchTerms) -> list[str]:
        names = [t for t in terms.names(whole_context=True) if t.strip()]
        if not names:
            return []
        parts = [any_of(names, quote_all=True)]
        parts += [any_of(group) for group in terms.context]
        parts += [f"-{phrase(w)}" for w in terms.exclude]
        return [" ".join(parts)]

    def request(self, query: str, lang: str) -> str:
        hl, gl, ceid = google_edition(lang)
        return self._url("/rss/search", {"q": f"{query} {RECENT}", "hl": hl, "gl": gl, "ceid": ceid})

    def hides_publisher(self, url: str) -> bool:
        if not self.owns(url):
            return False
        path = urlsplit(url).path[len(urlsplit(self.base_url).path):]
        return path.startswith(ARTICLE_PATHS)

    def parse(self, response: http.Response) -> list[Hit]:
        import feedparser

        parsed = feedparser.parse(response.content, response_headers={
            k.lower(): v for k, v in response.headers.items() if k.lower() in ("content-type", "content-location")})
        if not parsed.get("version"):
            reason = parsed.get("bozo_exception") or "not an RSS feed"
            raise SearchError(f"Google News answered something else than its RSS feed: {reason}")
        hits = []
        for entry in parsed.entries:
            guid = str(entry.get("id") or "").strip()
            title = " ".join(str(entry.get("title") or "").split())
            if guid == UNAVAILABLE or (title == "This feed is not available." and len(parsed.entries) == 1):
                raise SearchError("Google News refused the query (\"This feed is not available.\")")
            link = str(entry.get("link") or "").strip()
            if not link:
                continue
            source = entry.get("source") or {}
            publisher = " ".join(str(source.get("title") or "").split()) or None
            if publisher and title.endswith(f" - {publisher}"):
                title = title[: -len(publisher) - 3].rstrip()
            hits.append(Hit(url=link, title=title, published=_date(entry), source=publisher, key=guid or None))
        return hits


def _date(entry: dict[str, object]) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)  # type: ignore[index,misc]
    except (TypeError, ValueError):
        return None
