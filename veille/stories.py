"""Stories: the same story from several outlets is one alert.

Two articles are the same story when their bodies share at least 80 % of their word 4-shingles
(Jaccard similarity of the two sets, whatever their titles) and their times (published, else first seen)
are at most 48 h apart. An article alone is a story of one.

Finding the earlier copies must not mean comparing with every stored article. Each matched article gets
a MinHash signature of its shingles (one-permutation hashing, 100 values), cut into 20 bands of 5 values;
each band is hashed to a 64-bit key and stored in ``story_bands``. Two articles with similarity s share at
least one band with probability 1 - (1 - s^5)^20: 99.96 % at s = 0.8, 97 % at 0.7, under 5 % at 0.3. So the
candidates are the few articles sharing a band key (an index lookup), and each is then checked exactly
against the 80 % rule on its stored text.

:func:`assign_story` runs inside the transaction that marks the article matched. On PostgreSQL it takes
a transaction-level advisory lock on each of its band keys first, so two copies matched at the same moment
by two workers wait for each other and end up in one story; on SQLite that transaction already holds the
database's write lock.

``python -m veille.stories`` measures how fast articles are assigned to stories with a large table.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from veille.storage.models import Article, Feed, Story, StoryBand

SHINGLE = 4
SIMILARITY = 0.8
WINDOW = timedelta(hours=48)
HASHES = 100
BANDS = 20
ROWS = HASHES // BANDS
MIN_SHINGLES = 20  # shorter texts (a teaser, an empty page) are never grouped: too little to tell
MAX_CANDIDATES = 20

_WORD = re.compile(r"\w+")
_MASK = (1 << 64) - 1
_EMPTY = _MASK


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def shingles(text: str) -> set[int]:
    """64-bit hashes of the text's word 4-shingles (case-folded words; punctuation ignored): the BLAKE2b
    digest of the shingle's words joined by single spaces, UTF-8 encoded."""
    tokens = [word.encode() for word in words(text)]
    blake2b, from_bytes, space = hashlib.blake2b, int.from_bytes, b" "
    return {
        from_bytes(blake2b(space.join(tokens[i : i + SHINGLE]), digest_size=8).digest(), "big")
        for i in range(len(tokens) - SHINGLE + 1)
    }


# Each matched article is a candidate for the copies matched after it: its shingles are kept for the latest
# articles seen by this process (as compact arrays, about 12 KB for a 1,500-word text), keyed by the text
# itself, so a text that changed, or an id reused after a rollback, is never mistaken for another.
CACHE_ARTICLES = 512
_cache: OrderedDict[tuple[int, int, int], array[int]] = OrderedDict()


def _cache_key(article_id: int, text: str) -> tuple[int, int, int]:
    return article_id, len(text), hash(text)


def _remember(key: tuple[int, int, int], hashes: set[int]) -> None:
    _cache[key] = array("Q", hashes)
    if len(_cache) > CACHE_ARTICLES:
        _cache.popitem(last=False)


def _shingles_of(article_id: int, text: str) -> Collection[int]:
    key = _cache_key(article_id, text)
    known = _cache.get(key)
    if known is not None:
        _cache.move_to_end(key)
        return known
    hashes = shingles(text)
    _remember(key, hashes)
    return hashes


def similarity(a: set[int], b: Collection[int]) -> float:
    """Jaccard similarity: shared shingles over all shingles (``b``: distinct values, a set or an array)."""
    if not a or not b:
        return 0.0
    shared = len(a.intersection(b))
    return shared / (len(a) + len(b) - shared)


def signature(hashes: Iterable[int]) -> list[int]:
    """A MinHash signature by one-permutation hashing: each shingle hash falls in one of HASHES bins and
    each bin keeps its smallest value; an empty bin borrows from the next non-empty one (densification),
    so equal sets give equal signatures and similar sets mostly equal bins."""
    bins = [_EMPTY] * HASHES
    for h in hashes:
        index, value = h % HASHES, h // HASHES
        if value < bins[index]:
            bins[index] = value
    if all(v == _EMPTY for v in bins):
        return bins
    dense = []
    for i, value in enumerate(bins):
        step = 0
        while value == _EMPTY:
            step += 1
            value = bins[(i + step) % HASHES]
        dense.append(_hash64(f"{value}:{step}".encode()) if step else value)
    return dense


def band_keys(sig: list[int]) -> list[int]:
    """One signed 64-bit key per band (the band's number and its values), as PostgreSQL's bigint wants."""
    keys = []
    for band in range(BANDS):
        values = ",".join(str(v) for v in sig[band * ROWS : (band + 1) * ROWS])
        digest = hashlib.blake2b(f"{band}|{values}".encode(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))
    return keys


def article_time(article: Article) -> datetime:
    return article.published_at or article.first_seen_at


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """An article's shingles and band keys: CPU work, done before its transaction starts writing (on SQLite
    the write lock is held from the first write to the commit, and every other worker waits for it)."""

    shingles: set[int]
    keys: list[int]


def fingerprint(article: Article) -> Fingerprint:
    own = shingles(article.text or "")
    _remember(_cache_key(article.id, article.text or ""), own)
    return Fingerprint(own, sorted(set(band_keys(signature(own)))) if len(own) >= MIN_SHINGLES else [])


def assign_story(s: Session, article: Article, prints: Fingerprint | None = None) -> int:
    """Put a matched article in its story (an earlier copy's, or a new one) and return the story's id."""
    if article.story_id is not None:
        return article.story_id
    prints = prints or fingerprint(article)
    own, keys = prints.shingles, prints.keys
    if len(own) < MIN_SHINGLES:
        return _new_story(s, article)
    if s.get_bind().dialect.name == "postgresql":
        for key in keys:  # in order, so two workers can't wait on each other
            s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    at = article_time(article)
    candidates = s.execute(
        select(StoryBand.article_id, StoryBand.story_id, func.count().label("shared"))
        .where(StoryBand.band.in_(keys), StoryBand.at >= at - WINDOW, StoryBand.at <= at + WINDOW,
               StoryBand.article_id != article.id)
        .group_by(StoryBand.article_id, StoryBand.story_id)
        .order_by(func.count().desc(), StoryBand.article_id)
        .limit(MAX_CANDIDATES)
    ).all()
    best: tuple[float, int] | None = None
    texts = dict(s.execute(select(Article.id, Article.text).where(Article.id.in_([c[0] for c in candidates]))).all())
    for candidate_id, story_id, _shared in candidates:
        score = similarity(own, _shingles_of(candidate_id, texts.get(candidate_id) or ""))
        if score >= SIMILARITY and (best is None or (score, -story_id) > (best[0], -best[1])):
            best = (score, story_id)
    story_id = best[1] if best is not None else _new_story(s, article)
    article.story_id = story_id
    # one executemany of plain rows: the ORM's unit of work costs more than the 20 INSERTs themselves
    s.execute(insert(StoryBand), [{"band": key, "article_id": article.id, "story_id": story_id, "at": at}
                                  for key in keys])
    return story_id


def _new_story(s: Session, article: Article) -> int:
    story = Story(article_id=article.id)
    s.add(story)
    s.flush()
    article.story_id = story.id
    return story.id


# --- what a story shows ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Copy:
    article_id: int
    outlet: str
    url: str


def outlet(feed_title: str | None, url: str) -> str:
    return feed_title or urlsplit(url).hostname or url


def copies(s: Session, story_id: int) -> list[Copy]:
    """Every article of a story, the first one first."""
    return copies_of(s, [story_id]).get(story_id, [])


def copies_of(s: Session, story_ids: Iterable[int]) -> dict[int, list[Copy]]:
    """Every article of each of these stories, the first one first, in one query (a page of matches)."""
    wanted = sorted(set(story_ids))
    found: dict[int, list[Copy]] = {story_id: [] for story_id in wanted}  # story_id is never NULL below
    if not wanted:
        return found
    rows = s.execute(
        select(Article.story_id, Article.id, Article.canonical_url, Article.url, Feed.title)
        .outerjoin(Feed, Feed.id == Article.feed_id)
        .where(Article.story_id.in_(wanted))
        .order_by(Article.id)
    ).all()
    for story_id, article_id, canonical, url, title in rows:
        found[story_id or 0].append(Copy(article_id, outlet(title, canonical or url), canonical or url))
    return found


def also_covered_by(s: Session, story_id: int | None, article_id: int) -> tuple[tuple[str, str], ...]:
    """(outlet, URL) of the story's other articles."""
    if story_id is None:
        return ()
    return tuple((c.outlet, c.url) for c in copies(s, story_id) if c.article_id != article_id)


def story_fields(s: Session, article: Article) -> dict[str, Any]:
    """The ``story`` and ``also_covered_by`` fields of a ``veille matches --json`` row (cached per session:
    every copy of a story is a row there)."""
    cache: dict[int, list[Copy]] = s.info.setdefault("veille_story_copies", {})
    if article.story_id is None:
        return {"story": None, "also_covered_by": []}
    if article.story_id not in cache:
        cache[article.story_id] = copies(s, article.story_id)
    return {
        "story": article.story_id,
        "also_covered_by": [
            {"outlet": c.outlet, "url": c.url} for c in cache[article.story_id] if c.article_id != article.id
        ],
    }


# --- measurement ----------------------------------------------------------------------------


def bench(count: int = 20000, probes: int = 500) -> None:  # pragma: no cover - prints figures
    """Fill a fresh SQLite database with ``count`` matched articles (one in ten a near-copy of another),
    then time :func:`assign_story` for ``probes`` more; print the figures."""
    import random
    import tempfile
    import time
    from pathlib import Path

    from veille.storage.db import Database
    from veille.storage.models import utcnow

    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(5000)]

    def body() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(300, 900)))

    def near_copy(source: str) -> str:
        tokens = source.split()
        for _ in range(max(1, len(tokens) // 100)):  # about 1 % of the words changed
            tokens[rng.randrange(len(tokens))] = rng.choice(vocabulary)
        return " ".join(tokens)

    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        db.upgrade()
        now = utcnow()
        texts: list[str] = []

        def add(s: Session, n: int, start: int) -> float:
            spent = 0.0
            for i in range(start, start + n):
                source = near_copy(texts[rng.randrange(len(texts))]) if texts and rng.random() < 0.1 else body()
                texts.append(source)
                article = Article(url_key=f"bench/{i}", url=f"https://bench.example/{i}", text=source,
                                  state="matched", published_at=now - timedelta(minutes=rng.randrange(2880)))
                s.add(article)
                s.flush()
                started = time.perf_counter()
                assign_story(s, article)
                spent += time.perf_counter() - started
            return spent

        filled = time.perf_counter()
        for start in range(0, count, 1000):
            db.run(add, min(1000, count - start), start)
        fill_seconds = time.perf_counter() - filled
        spent = db.run(add, probes, count)
        stories = db.run(lambda s: s.scalar(select(func.count()).select_from(Story)))
        bands = db.run(lambda s: s.scalar(select(func.count()).select_from(StoryBand)))
        db.dispose()
    print(f"filled {count} articles in {fill_seconds:.1f}s; {stories} stories, {bands} band rows")
    print(f"assign_story with {count} articles stored: {probes / spent:.0f} articles/s, "
          f"{spent / probes * 1000:.2f} ms per article (shingles, signature, band lookup, checks, insert)")


if __name__ == "__main__":  # pragma: no cover
    import sys

    bench(*(int(a) for a in sys.argv[1:3]))
