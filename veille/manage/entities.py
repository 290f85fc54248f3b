"""Tracked entities: add, test a definition, list, edit in place, pause and resume, remove.

Every face names a definition's parts the same way (:class:`Definition`, :meth:`EntityView.as_json`): ``name``,
``aliases``, ``aliases_exact``, ``exclude``, ``require``, ``query``, ``exact``, ``min_mentions``, ``in_title``,
``to``. They are stored as ``Entity.aliases``, ``Entity.excludes`` and ``Entity.options`` (``exact_aliases``,
``require``, ``exact``, ``query``, ``min_mentions``, ``in_title``, ``to``), only the options that are set.

An edit keeps the entity's id, so its matches stay; the new definition is checked before anything is saved.
Workers pick an edit or a pause up by themselves: their compiled matcher is keyed on the definitions of the
entities that are not paused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille.manage.errors import ConflictError, InvalidError, NotFoundError
from veille.manage.pauses import PauseState, pause_end, state_of
from veille.manage.searches import (
    SearchSources,
    adopt,
    check_lang,
    follow_pause,
    removed_entity_urls,
    sync_searches,
)
from veille.matching import Matcher, QuerySyntaxError, fold_term, looks_like_query, parse_query
from veille.pipeline.context import Context
from veille.settings import Settings
from veille.storage import pauses
from veille.storage.db import Database
from veille.storage.models import Channel, Entity, Match, utcnow

if TYPE_CHECKING:
    from veille.preview import Backfill, Preview


@dataclass(frozen=True, slots=True)
class Definition:
    """What an entity matches and where its alerts go, as a user gives it."""

    name: str
    aliases: tuple[str, ...] = ()
    aliases_exact: tuple[str, ...] = ()  # case-sensitive aliases
    exclude: tuple[str, ...] = ()  # words that veto an article
    require: tuple[str, ...] = ()  # context words, one of which must appear
    query: str | None = None  # when set it alone decides; ``name`` is a label
    exact: bool = False  # the name itself is case-sensitive
    min_mentions: int = 1
    in_title: bool = False
    to: tuple[str, ...] = ()  # channel names; none: every channel
    search: bool = False  # search the web's news for it (veille.manage.searches)
    lang: tuple[str, ...] = ()  # the languages of its searches; none: VEILLE_LANGUAGES

    def entity(self) -> Entity:
        """An unsaved row for this definition."""
        options: dict[str, Any] = {}
        _set_list(options, "exact_aliases", _unique(self.aliases_exact))
        _set_list(options, "require", _unique(self.require))
        _set_flag(options, "exact", self.exact)
        if self.query is not None and self.query.strip():
            options["query"] = self.query.strip()
        if self.min_mentions > 1:
            options["min_mentions"] = self.min_mentions
        _set_flag(options, "in_title", self.in_title)
        _set_list(options, "to", _unique(self.to))
        _set_flag(options, "search", self.search)
        _set_list(options, "lang", _unique(self.lang))
        name = self.name.strip()
        return Entity(name=name, name_key=fold_term(name), aliases=_unique(self.aliases),
                      excludes=_unique(self.exclude), options=options)

    def describe(self) -> str:
        """The definition on one line: ``Mistral AI | Mistral | +MAI -vent (with AI, LLM)``, or its query."""
        if self.query:
            return self.query
        text = " | ".join([self.name, *self.aliases, *(f"+{a}" for a in self.aliases_exact)])
        if self.exclude:
            text += " -" + " -".join(self.exclude)
        if self.require:
            text += f" (with {', '.join(self.require)})"
        return text


def stored_entity(item: Mapping[str, Any]) -> Entity:
    """An unsaved row from a stored shape (``name``, ``aliases``, ``excludes``, ``options``: backups, the
    starter watchlist)."""
    name = str(item["name"]).strip()
    return Entity(name=name, name_key=fold_term(name), aliases=_unique(item.get("aliases") or ()),
                  excludes=_unique(item.get("excludes") or ()), options=dict(item.get("options") or {}))


def definition_of(entity: Entity) -> Definition:
    options = entity.options or {}
    return Definition(
        name=entity.name,
        aliases=tuple(entity.aliases or ()),
        aliases_exact=tuple(options.get("exact_aliases", ())),
        exclude=tuple(entity.excludes or ()),
        require=tuple(options.get("require", ())),
        query=options.get("query"),
        exact=bool(options.get("exact", False)),
        min_mentions=int(options.get("min_mentions", 1)),
        in_title=bool(options.get("in_title", False)),
        to=tuple(options.get("to", ())),
        search=bool(options.get("search", False)),
        lang=tuple(options.get("lang", ())),
    )


@dataclass(frozen=True, slots=True)
class EntityView:
    id: int
    name: str
    aliases: tuple[str, ...]
    excludes: tuple[str, ...]
    options: dict[str, Any]  # exact_aliases, require, exact, query, min_mentions, in_title, to, search, lang
    pause: PauseState
    matches: int  # stored matches

    @property
    def definition(self) -> Definition:
        return definition_of(Entity(name=self.name, aliases=list(self.aliases), excludes=list(self.excludes),
                                    options=self.options))

    def as_json(self) -> dict[str, Any]:
        """The entity as every face shows it (`track list --json`, the API)."""
        d = self.definition
        return {
            "id": self.id,
            "name": d.name,
            "aliases": list(d.aliases),
            "aliases_exact": list(d.aliases_exact),
            "exclude": list(d.exclude),
            "require": list(d.require),
            "query": d.query,
            "exact": d.exact,
            "min_mentions": d.min_mentions,
            "in_title": d.in_title,
            "to": list(d.to),
            "search": d.search,
            "lang": list(d.lang),
            "paused": self.pause.paused,
            "paused_until": self.pause.until.isoformat() if self.pause.until else None,
            "matches": self.matches,
        }


@dataclass(frozen=True, slots=True)
class EntityChanges:
    """What ``track edit`` changes. Lists are added to (after emptying them when ``clear_...``); the other
    fields replace the saved value when given (None: unchanged)."""

    rename: str | None = None
    aliases: tuple[str, ...] = ()
    exact_aliases: tuple[str, ...] = ()
    clear_aliases: bool = False  # every alias, exact ones too
    excludes: tuple[str, ...] = ()
    clear_excludes: bool = False
    require: tuple[str, ...] | None = None  # the context words; () removes them
    exact: bool | None = None
    query: str | None = None  # "" removes it
    min_mentions: int | None = None  # 1: no minimum
    in_title: bool | None = None
    to: tuple[str, ...] = ()
    clear_to: bool = False  # routed to every channel again (before adding ``to``)
    search: bool | None = None  # search the web's news for it, or stop
    lang: tuple[str, ...] | None = None  # the languages of its searches, replacing the saved ones; (): the default

    def is_empty(self) -> bool:
        return self == EntityChanges()


@dataclass(frozen=True, slots=True)
class EntityImpact:
    """What removing an entity takes with it."""

    name: str
    matches: int

    def describe(self) -> str:
        if not self.matches:
            return f"Stop tracking {self.name}? It has no match yet."
        goes = "goes" if self.matches == 1 else "go"
        return (f"Stop tracking {self.name}? Its {_count(self.matches, 'match', 'matches')} {goes} with it; "
                "the articles and the alerts already sent stay.")


# --------------------------------------------------------------------------- reading


def find_entity(s: Session, name: str) -> Entity:
    entity = s.scalar(select(Entity).where(Entity.name_key == fold_term(name.strip())))
    if entity is None:
        raise NotFoundError(f"not tracked: {name} (see `veille track list`)")
    return entity


def view(s: Session, entity: Entity, now: datetime | None = None) -> EntityView:
    matches = s.scalar(select(func.count()).select_from(Match).where(Match.entity_id == entity.id)) or 0
    return EntityView(
        id=entity.id,
        name=entity.name,
        aliases=tuple(entity.aliases or ()),
        excludes=tuple(entity.excludes or ()),
        options=dict(entity.options or {}),
        pause=state_of(entity, now),
        matches=matches,
    )


def list_entities(db: Database, *, now: datetime | None = None) -> list[EntityView]:
    def work(s: Session) -> list[EntityView]:
        counts = dict(s.execute(select(Match.entity_id, func.count()).group_by(Match.entity_id)).tuples().all())
        return [
            EntityView(e.id, e.name, tuple(e.aliases or ()), tuple(e.excludes or ()), dict(e.options or {}),
                       state_of(e, now), counts.get(e.id, 0))
            for e in s.scalars(select(Entity).order_by(Entity.name))
        ]

    return db.run(work)


def get_entity(db: Database, name: str, *, now: datetime | None = None) -> EntityView:
    return db.run(lambda s: view(s, find_entity(s, name), now))


# --------------------------------------------------------------------------- checking


NAME_SIZE = 512  # the entities.name and name_key columns


def check_name(name: str) -> str:
    name = name.strip()
    if not name or not any(c.isalnum() for c in fold_term(name)):
        raise InvalidError("the name must contain letters or digits")
    if len(name) > NAME_SIZE or len(fold_term(name)) > NAME_SIZE:
        raise InvalidError(f"the name is too long (at most {NAME_SIZE} characters)")
    return name


def check_definition(entity: Entity) -> None:
    """Refuse a definition that does not compile: a query that can't be parsed (the parser's message, which
    says what is wrong and where), or options the matcher rejects."""
    from veille.pipeline import entity_spec

    spec = entity_spec(entity)
    try:
        if spec.query is not None:
            parse_query(spec.query)
        Matcher([spec])
    except QuerySyntaxError as exc:
        raise InvalidError(str(exc), field="query") from exc
    except ValueError as exc:
        raise InvalidError(str(exc)) from exc


def channel_names(s: Session) -> set[str]:
    """The names an entity may be routed to (``--to``): every channel but removed ones."""
    return {c.name for c in s.scalars(select(Channel)) if not pauses.removed(c.options)}


def check_channels(s: Session, names: Iterable[str]) -> None:
    known = channel_names(s)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidError(f"no channel named {', '.join(map(repr, unknown))} (see `veille channels list`)",
                           field="to")


# --------------------------------------------------------------------------- adding and testing


@dataclass(frozen=True, slots=True)
class AddedEntity:
    entity: EntityView
    backfill: Backfill | None  # what ``backfill`` matched and the alerts it created
    searches: SearchSources | None = None  # its search sources, when it searches the web's news


def check(definition: Definition) -> Definition:
    """The definition, checked: a name with letters or digits, a query that parses (its error says where),
    at least one mention, at least one minimum mention. InvalidError names the field."""
    check_name(definition.name)
    if definition.query is not None and not definition.query.strip():
        raise InvalidError("the query is empty", field="query")
    if definition.min_mentions < 1:
        raise InvalidError("must be 1 or more", field="min_mentions")
    if definition.lang:
        definition = replace(definition, lang=tuple(check_lang(definition.lang)))
        if not definition.search:
            raise InvalidError("the languages are those of its searches of the web's news: search too (--search)",
                               field="lang")
    check_definition(definition.entity())
    return definition


def add_entity(
    ctx: Context, definition: Definition, *, backfill: float | None = None, now: datetime | None = None
) -> AddedEntity:
    """Track a new entity (ConflictError when its name is tracked already, folded as names are). With
    ``backfill`` (seconds), it is then matched against the stored articles of that period, each match stored
    and alerted to the channels it is routed to (see :func:`veille.preview.backfill`)."""
    definition = check(definition)
    if backfill is not None and backfill <= 0:
        raise InvalidError("must be longer than zero", field="backfill")
    entity = definition.entity()

    def add(s: Session) -> tuple[EntityView, SearchSources | None]:
        check_channels(s, entity.options.get("to", ()))
        if s.scalar(select(Entity.id).where(Entity.name_key == entity.name_key)) is not None:
            raise ConflictError(f"already tracked: {entity.name}")
        s.add(entity)
        try:
            s.flush()
        except IntegrityError as exc:  # another face added it a moment ago
            raise ConflictError(f"already tracked: {entity.name}") from exc
        searched = sync_searches(s, ctx.settings, entity, now=now) if definition.search else None
        return view(s, entity, now), searched

    added, searched = ctx.db.run(add)
    done = None
    if backfill is not None:
        from veille import preview

        done = preview.backfill(ctx, added.id, since=backfill, now=now)
    return AddedEntity(added, done, searched)


@dataclass(frozen=True, slots=True)
class DefinitionTest:
    """What a definition would have matched among the stored articles (`track test`)."""

    label: str  # "definition", "query" or "saved definition"
    description: str  # the definition on one line
    since: float  # seconds looked back
    hits: tuple[Preview, ...]  # articles it would have alerted for, newest first
    vetoed: tuple[Preview, ...]  # articles that mention it but would not alert, and why


def test_definition(
    ctx: Context, definition: Definition, *, since: float = 30 * 86400.0, now: datetime | None = None,
    saved: bool = True, literal: bool = False,
) -> DefinitionTest:
    """Match a definition against the stored articles of the last ``since`` seconds, saving nothing. A bare
    name that uses query syntax is taken as a query; with ``saved``, the bare name of a tracked entity tests
    its saved definition. With ``literal`` (a form that shows every field), neither: the definition is
    tested exactly as :func:`add_entity` would save it."""
    from veille import preview

    check_name(definition.name)
    if since <= 0:
        raise InvalidError("must be longer than zero", field="since")
    label = "definition"
    bare = not literal and definition == Definition(definition.name)
    if bare and saved:
        tracked = ctx.db.run(lambda s: s.scalar(select(Entity).where(Entity.name_key == fold_term(definition.name))))
        if tracked is not None:
            definition, label = definition_of(tracked), "saved definition"
    if bare and label == "definition" and looks_like_query(definition.name):
        definition = Definition(definition.name, query=definition.name)
    if definition.query:
        label = "query"
    check(definition)
    from veille.pipeline import entity_spec

    found = preview.preview(ctx, entity_spec(definition.entity()), since=since, now=now)
    return DefinitionTest(
        label=label, description=definition.describe(), since=since,
        hits=tuple(p for p in found if p.hit is not None), vetoed=tuple(p for p in found if p.veto is not None),
    )


# --------------------------------------------------------------------------- from a JSON body or a form

FIELDS = ("name", "aliases", "aliases_exact", "exclude", "require", "query", "exact", "min_mentions", "in_title", "to",
          "search", "lang")


def definition_from(data: Mapping[str, Any], base: Definition | None = None) -> Definition:
    """A definition from named values (a JSON body, a form), each checked for its type (InvalidError names
    the field); missing ones are ``base``'s, or the defaults. ``query`` null or "" means none."""
    current = base or Definition(name="")
    values: dict[str, Any] = {}
    for key in FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "name":
            if not isinstance(value, str):
                raise InvalidError("expected a string", field=key)
        elif key in ("aliases", "aliases_exact", "exclude", "require", "to", "lang"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidError("expected a list of strings", field=key)
            value = tuple(value)
        elif key == "query":
            if value is not None and not isinstance(value, str):
                raise InvalidError("expected a string or null", field=key)
            value = value.strip() if value and value.strip() else None
        elif key in ("exact", "in_title", "search"):
            if not isinstance(value, bool):
                raise InvalidError("expected true or false", field=key)
        elif key == "min_mentions" and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidError("expected a whole number", field=key)
        values[key] = value
    found = replace(current, **values)
    if not found.search and "lang" not in data:
        found = replace(found, lang=())  # the languages of searches it no longer makes
    return found


def entity_by_id(db: Database, entity_id: int, *, now: datetime | None = None) -> EntityView:
    def work(s: Session) -> EntityView:
        entity = s.get(Entity, entity_id)
        if entity is None:
            raise NotFoundError(f"no entity {entity_id}")
        return view(s, entity, now)

    return db.run(work)


def update_entity(db: Database, entity_id: int, data: Mapping[str, Any], *, now: datetime | None = None,
                  settings: Settings | None = None) -> EntityView:
    """Replace the given parts of an entity's definition (the others stay): same id, matches kept; the new
    definition is checked as a new one is. With ``settings``, its search sources follow the change."""

    def work(s: Session) -> EntityView:
        entity = s.get(Entity, entity_id)
        if entity is None:
            raise NotFoundError(f"no entity {entity_id}")
        new = check(definition_from(data, definition_of(entity)))
        row = new.entity()
        if row.name_key != entity.name_key and s.scalar(select(Entity.id).where(Entity.name_key == row.name_key)):
            raise ConflictError(f"already tracked: {row.name}")
        check_channels(s, row.options.get("to", ()))
        entity.name, entity.name_key = row.name, row.name_key
        entity.aliases, entity.excludes = row.aliases, row.excludes
        entity.options = {**{k: v for k, v in (entity.options or {}).items() if k not in _OPTION_KEYS}, **row.options}
        s.flush()
        if settings is not None:
            sync_searches(s, settings, entity, now=now)
        return view(s, entity, now)

    return db.run(work)


_OPTION_KEYS = ("exact_aliases", "require", "exact", "query", "min_mentions", "in_title", "to", "search", "lang")


# --------------------------------------------------------------------------- editing


def edit_entity(db: Database, name: str, changes: EntityChanges, *, now: datetime | None = None,
                settings: Settings | None = None) -> EntityView:
    """Change an entity's definition in place: same id, its matches kept. The new definition is checked as
    ``track add`` checks one; when it is refused nothing is saved. With ``settings``, its search sources follow
    the change (made, updated, removed)."""
    if changes.is_empty():
        raise InvalidError("nothing to change: give at least one option (see `veille track edit --help`)")
    lang = check_lang(changes.lang) if changes.lang is not None else None

    def work(s: Session) -> EntityView:
        entity = find_entity(s, name)
        if changes.rename is not None:
            new_name = check_name(changes.rename)
            key = fold_term(new_name)
            if key != entity.name_key and s.scalar(select(Entity.id).where(Entity.name_key == key)) is not None:
                raise ConflictError(f"already tracked: {new_name}")
            entity.name, entity.name_key = new_name, key
        options = dict(entity.options or {})
        aliases = [] if changes.clear_aliases else list(entity.aliases or ())
        exact_aliases = [] if changes.clear_aliases else list(options.get("exact_aliases", ()))
        entity.aliases = _unique([*aliases, *changes.aliases])
        _set_list(options, "exact_aliases", _unique([*exact_aliases, *changes.exact_aliases]))
        entity.excludes = _unique([*([] if changes.clear_excludes else (entity.excludes or ())), *changes.excludes])
        if changes.require is not None:
            _set_list(options, "require", _unique(changes.require))
        if changes.exact is not None:
            _set_flag(options, "exact", changes.exact)
        if changes.in_title is not None:
            _set_flag(options, "in_title", changes.in_title)
        if changes.query is not None:
            options.pop("query", None)
            if changes.query.strip():
                options["query"] = changes.query.strip()
        if changes.min_mentions is not None:
            if changes.min_mentions < 1:
                raise InvalidError("must be 1 or more", field="min_mentions")
            options.pop("min_mentions", None)
            if changes.min_mentions > 1:
                options["min_mentions"] = changes.min_mentions
        to = _unique(changes.to)
        check_channels(s, to)
        _set_list(options, "to", _unique([*([] if changes.clear_to else options.get("to", ())), *to]))
        if changes.search is not None:
            _set_flag(options, "search", changes.search)
        if lang is not None:
            if not options.get("search"):
                raise InvalidError("the languages are those of its searches of the web's news: search too "
                                   "(--search)", field="lang")
            _set_list(options, "lang", lang)
        if not options.get("search"):
            options.pop("lang", None)
        entity.options = options
        check_definition(entity)
        s.flush()
        if settings is not None:
            sync_searches(s, settings, entity, now=now)
        return view(s, entity, now)

    return db.run(work)


def _unique(items: Iterable[str]) -> list[str]:
    return [i for i in dict.fromkeys(i.strip() for i in items) if i]


def _set_list(options: dict[str, Any], key: str, values: Sequence[str]) -> None:
    if values:
        options[key] = list(values)
    else:
        options.pop(key, None)


def _set_flag(options: dict[str, Any], key: str, value: bool) -> None:
    if value:
        options[key] = True
    else:
        options.pop(key, None)


# --------------------------------------------------------------------------- pausing


def pause_entity(
    db: Database, name: str, *, duration: str | None = None, until: str | None = None, now: datetime | None = None
) -> EntityView:
    """Pause an entity for ``duration`` (``7d``), until ``until`` (a date), or until resumed: meanwhile it
    matches nothing (articles that arrive during the pause are not matched later). Pausing a paused entity
    sets the new end."""
    now = now or utcnow()
    end = pause_end(duration=duration, until=until, now=now)

    def work(s: Session) -> EntityView:
        entity = find_entity(s, name)
        pauses.pause(entity, end)
        follow_pause(s, entity)
        return view(s, entity, now)

    return db.run(work)


def resume_entity(db: Database, name: str, *, now: datetime | None = None) -> EntityView:
    def work(s: Session) -> EntityView:
        entity = find_entity(s, name)
        pauses.resume(entity)
        follow_pause(s, entity)
        return view(s, entity, now)

    return db.run(work)


# --------------------------------------------------------------------------- removing


def entity_removal_impact(db: Database, name: str) -> EntityImpact:
    def work(s: Session) -> EntityImpact:
        entity = find_entity(s, name)
        return EntityImpact(entity.name, view(s, entity).matches)

    return db.run(work)


@dataclass(frozen=True, slots=True)
class EntityRemoved:
    name: str
    matches: int  # removed with it


def remove_entity(db: Database, name: str, *, settings: Settings | None = None) -> EntityRemoved:
    """Stop tracking an entity: it, its matches and its search sources go; the articles, and the alerts already
    created, stay. With ``settings``, a search it shared with another entity is made again for that one."""

    def work(s: Session) -> EntityRemoved:
        entity = find_entity(s, name)
        matches = view(s, entity).matches
        urls = removed_entity_urls(s, entity.id)
        s.delete(entity)
        s.flush()
        if settings is not None and urls:
            adopt(s, settings, urls, now=utcnow())
        return EntityRemoved(entity.name, matches)

    return db.run(work)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# --------------------------------------------------------------------------- recent matches


@dataclass(frozen=True, slots=True)
class RecentMatches:
    """An entity's matches of the last 7 and 30 days."""

    week: int
    month: int


def match_counts(db: Database, *, now: datetime | None = None) -> dict[int, RecentMatches]:
    """Every entity's matches of the last 7 and 30 days before ``now``, by entity id, in one grouped query;
    an entity without a match in 30 days is absent."""
    now = now or utcnow()
    week, month = now - timedelta(days=7), now - timedelta(days=30)

    def work(s: Session) -> dict[int, RecentMatches]:
        rows = s.execute(
            select(Match.entity_id, func.sum(case((Match.matched_at >= week, 1), else_=0)), func.count())
            .where(Match.matched_at >= month, Match.matched_at <= now)
            .group_by(Match.entity_id)
        ).tuples()
        return {entity_id: RecentMatches(int(in_week or 0), int(in_month)) for entity_id, in_week, in_month in rows}

    return db.run(work)
