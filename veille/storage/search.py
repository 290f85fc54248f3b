"""Full-text search over stored articles (their title and text, and the feed's own title and summary of them),
the same function on SQLite and PostgreSQL.

SQLite: an FTS5 table (``articles_fts``, external content over ``articles``, kept in step by triggers),
tokenized with ``unicode61 remove_diacritics 2`` so that ``herve`` finds ``Hervé``.
PostgreSQL: a stored generated ``tsvector`` column (``articles.search``, ``simple`` configuration, accents
removed by ``veille_unaccent``: the ``unaccent`` extension when the server has it, else the text as it is)
with a GIN index.

Both live outside the models (migration 0007 creates them): :func:`outside_models` tells the schema check
to leave them alone. A later migration that recreates ``articles`` on SQLite (a batch copy) must recreate the
triggers and rebuild the index. A query is a list of words, all of which must appear (case and, where the database
can, accents ignored); punctuation and query operators are taken as spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, column, literal, select, text
from sqlalchemy.orm import Session

from veille.storage.models import Article

_WORD = re.compile(r"\w+")
FTS_TABLE = "articles_fts"


def words(query: str) -> list[str]:
    return _WORD.findall(query)[:32]


def matches(s: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Article``: its title or text has every word of ``query`` (true for an empty query)."""
    found = words(query)
    if not found:
        return literal(True)
    if s.get_bind().dialect.name == "postgresql":
        return text("articles.search @@ plainto_tsquery('simple', veille_unaccent(:search_query))").bindparams(
            bindparam("search_query", " ".join(found))
        )  # type: ignore[return-value]
    fts = " ".join('"' + word.replace('"', "") + '"' for word in found)  # each word a quoted string: no operator
    return Article.id.in_(
        text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :search_query").bindparams(
            bindparam("search_query", fts)
        ).columns(column("rowid", Integer))
    )


def any_phrase(s: Session, phrases: Iterable[str]) -> ColumnElement[bool] | None:
    """A condition on ``Article``: one of ``phrases`` (already folded: lower case, no accent) is in it, as
    words in a row; None when a phrase can't be looked up so (characters the index tokenizes otherwise than
    the matcher reads them, Chinese or Japanese, ``ß``...): then every article is a candidate."""
    wanted: list[list[str]] = []
    for phrase in phrases:
        found = words(phrase)
        if not found or not _PLAIN.fullmatch(phrase) or " ".join(found) != " ".join(phrase.split()):
            return None
        wanted.append(found)
    if not wanted:
        return None
    if s.get_bind().dialect.name == "postgresql":
        queries = " || ".join(f"phraseto_tsquery('simple', :p{i})" for i in range(len(wanted)))
        return text(f"articles.search @@ ({queries})").bindparams(  # type: ignore[return-value]
            *(bindparam(f"p{i}", " ".join(found)) for i, found in enumerate(wanted))
        )
    fts = " OR ".join('"' + " ".join(found) + '"' for found in wanted)
    return Article.id.in_(
        text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :search_any").bindparams(
            bindparam("search_any", fts)
        ).columns(column("rowid", Integer))
    )


_PLAIN = re.compile(r"[a-z0-9 ]+")  # what the index and the matcher both read as words in a row


def article_ids(s: Session, query: str) -> Select[Any] | None:
    """The ids of the articles whose title or text has every word of ``query``, as a subquery (None for a query
    without a word: no filter). Filtering matches by ``Match.article_id IN (...)`` needs no join to ``articles``,
    whose rows (their texts) are large: a join would read them all."""
    found = words(query)
    if not found:
        return None
    if s.get_bind().dialect.name == "postgresql":
        return select(Article.id).where(
            text("articles.search @@ plainto_tsquery('simple', veille_unaccent(:search_query))").bindparams(
                bindparam("search_query", " ".join(found))))
    fts = " ".join('"' + word.replace('"', "") + '"' for word in found)
    return select(column("rowid", Integer)).select_from(text(FTS_TABLE)).where(
        text(f"{FTS_TABLE} MATCH :search_query").bindparams(bindparam("search_query", fts)))


def outside_models(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's ``include_object``: False for the search index's own tables, columns and indexes."""
    if name is None:
        return True
    if type_ == "table" and name.startswith(FTS_TABLE):
        return False
    return not (type_ in ("column", "index") and name in ("search", "ix_articles_search"))
