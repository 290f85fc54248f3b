"""Backups: feeds, tracked entities and channels as one JSON file (`veille export`, `veille import`, the API).

The file carries everything a user set: a feed's title, tags, interval (fixed or not), feed text, backfill
and pause (``enabled`` false, ``resume_at`` when it ends, null: until resumed), and for a page source (a
listing page watched for its article links) ``kind`` "page" and ``any_site``; an entity's definition and
pause; a channel's target, secret, digest schedule, admin flag and pause. Not what veille learned or did
(entries, articles, alerts, a feed's first successful poll: a restored feed's next poll is its first).

The file is read and checked whole before anything is written, and written in one transaction: a bad
file changes nothing and the error names the item and the field. What already exists (a feed with the
same URL, an entity with the same name, a channel with the same name) is skipped, never overwritten.
Feed URLs go through the address guard, as with `veille feeds add`. :func:`write_private` writes a file
mode 0600 from its first byte (it holds channel secrets).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from veille import __version__, http, pipeline
from veille.manage.channels import NAME_SIZE as CHANNEL_NAME_SIZE
from veille.manage.channels import TARGET_SIZE, is_listed
from veille.manage.entities import NAME_SIZE as ENTITY_NAME_SIZE
from veille.manage.entities import stored_entity
from veille.manage.errors import InvalidError
from veille.manage.feeds import URL_SIZE
from veille.matching import QuerySyntaxError, fold_term
from veille.settings import Settings, parse_duration
from veille.storage.db import Database
from veille.storage.models import Channel, Entity, Feed, utcnow

FORMAT = "veille-backup"
VERSION = 2  # 1: entities with excludes/options, pauses as enabled/resume_at; still read
FEED_TEXT = ("auto", "always", "never")


class BackupError(InvalidError):
    """The file is not a veille backup veille can import; the message names the item and field."""


@dataclass(slots=True)
class Backup:
    feeds: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- export


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that only its owner can ever read it: a temporary file created 0600 beside
    it (whatever the umask), filled and synced, then renamed over it; an existing file is replaced, so its old
    mode goes with it, and a failed write leaves it as it was. A symbolic link is followed; a path that is not
    a regular file (a pipe, /dev/stdout) is written in place."""
    target = Path(os.path.realpath(path))
    try:
        regular = stat.S_ISREG(target.stat().st_mode)
    except FileNotFoundError:
        regular = True
    if not regular:
        with target.open("w", encoding="utf-8") as stream:
            stream.write(text)
        return
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export_backup(db: Database, *, now: datetime | None = None) -> dict[str, Any]:
    """The whole configuration as a backup document (secrets included)."""
    return db.run(_export, now or utcnow())


def _export(s: Session, now: datetime) -> dict[str, Any]:
    """Version 2: the names every face uses (an entity's parts as the API names them; ``paused`` and
    ``paused_until`` for every pause; a feed's fixed interval as ``every``)."""
    from veille.manage.entities import definition_of
    from veille.manage.pauses import state_of
    from veille.settings import format_duration

    def pause(row: Feed | Entity | Channel) -> dict[str, Any]:
        state = state_of(row, now)
        return {"paused": state.paused, "paused_until": _time(state.until)}

    def page_source(row: Feed) -> dict[str, Any]:
        """A page source's kind and option (a feed has neither: files of older versions read the same)."""
        if row.kind != "page":
            return {}
        return {"kind": "page", "any_site": bool((row.options or {}).get("any_site"))}

    # an entity's searches are not written: they are made again from its definition (``search``, ``lang``)
    feeds = s.scalars(select(Feed).where(Feed.kind != "search").order_by(Feed.id)).all()
    entities = s.scalars(select(Entity).order_by(Entity.id)).all()
    channels = [c for c in s.scalars(select(Channel).order_by(Channel.id)) if is_listed(c)]  # not removed ones
    exported_entities = []
    for e in entities:
        d = definition_of(e)
        exported_entities.append({
            "name": d.name, "aliases": list(d.aliases), "aliases_exact": list(d.aliases_exact),
            "exclude": list(d.exclude), "require": list(d.require), "query": d.query, "exact": d.exact,
            "min_mentions": d.min_mentions, "in_title": d.in_title, "to": list(d.to), "search": d.search,
            "lang": list(d.lang), **pause(e),
        })
    return {
        "format": FORMAT,
        "version": VERSION,
        "veille": __version__,
        "exported_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "feeds": [
            {"url": f.url, "title": f.title, "site_url": f.site_url, "tags": list(f.tags or []),
             "every": format_duration(f.interval) if f.interval_fixed else None, "interval": f.interval,
             "feed_text": f.feed_text, "backfill": f.backfill, **pause(f), **page_source(f)}
            for f in feeds if (f.kind or "feed") in ("feed", "page")
        ],
        "entities": exported_entities,
        "channels": [
            {"name": c.name, "kind": c.kind, "target": c.target, "secret": (c.options or {}).get("secret"),
             "admin": c.admin, "digest": (c.options or {}).get("digest"), "tz": (c.options or {}).get("tz"),
             **pause(c)}
            for c in channels
        ],
    }


def _from_version_2(document: dict[str, Any]) -> dict[str, Any]:
    """A version-2 document in the shape version 1 is checked in (same checks, same messages)."""

    def pause(item: Mapping[str, Any]) -> dict[str, Any]:
        paused = item.get("paused", False)
        return {"enabled": not paused if isinstance(paused, bool) else paused,
                "resume_at": item.get("paused_until") if paused else None}

    def feed(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        every = item.get("every")
        out = {k: v for k, v in item.items() if k not in ("every", "paused", "paused_until")}
        if every is not None:
            try:
                out["interval"] = parse_duration(every)
            except (TypeError, ValueError):
                out["interval"] = every  # refused by the check, which names the field
            out["interval_fixed"] = True
        return {**out, **pause(item)}

    def entity(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        options: dict[str, Any] = {}
        for key, stored in (("aliases_exact", "exact_aliases"), ("require", None), ("query", None), ("exact", None),
                            ("min_mentions", None), ("in_title", None), ("to", None), ("search", None),
                            ("lang", None)):
            value = item.get(key)
            if value not in (None, [], False) and not (key == "min_mentions" and value == 1):
                options[stored or key] = value
        return {"name": item.get("name"), "aliases": item.get("aliases", []), "excludes": item.get("exclude", []),
                "options": options, **pause(item)}

    def channel(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        options = {key: item[key] for key in ("secret", "digest", "tz") if item.get(key) is not None}
        return {"name": item.get("name"), "kind": item.get("kind"), "target": item.get("target"),
                "options": options, "admin": item.get("admin", False), **pause(item)}

    converted = dict(document)
    for key, convert in (("feeds", feed), ("entities", entity), ("channels", channel)):
        if isinstance(document.get(key), list):
            converted[key] = [convert(item) for item in document[key]]
    return converted


# --------------------------------------------------------------------------- reading and checking


def _str(item: Mapping[str, Any], key: str, where: str, *, required: bool = True, default: str | None = None) -> Any:
    value = item.get(key, default)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BackupError(f"{where}.{key}: expected a non-empty string, got {json.dumps(value)[:80]}")
    return value.strip()


def _bool(item: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise BackupError(f"{where}.{key}: expected true or false, got {json.dumps(value)[:80]}")
    return value


def _strings(item: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BackupError(f"{where}.{key}: expected a list of strings")
    return [v.strip() for v in value if v.strip()]


def _object(item: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = item.get(key, {})
    if not isinstance(value, dict):
        raise BackupError(f"{where}.{key}: expected an object")
    return value


def _when(item: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = item.get(key)
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None:
        raise BackupError(f"{where}.{key}: expected an ISO 8601 time or null, got {json.dumps(value)[:80]}")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _seconds(item: Mapping[str, Any], key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise BackupError(f"{where}.{key}: expected a number of seconds (0 or more) or null")
    return float(value)


def _list(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise BackupError(f"{key}: expected a list")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise BackupError(f"{key}[{index}]: expected an object")
    return value


def _unstorable(value: Any, path: str = "") -> str | None:
    """Where the document holds a string no database can store (a NUL character, a lone surrogate), and
    what is wrong; None when it holds none."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path or 'the file'}: a NUL character can't be stored"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path or 'the file'}: a lone surrogate (\\ud800-\\udfff) can't be stored"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(key, path) or _unstorable(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _fits(value: Any, size: int, where: str) -> None:
    if isinstance(value, str) and len(value) > size:
        raise BackupError(f"{where}: too long (at most {size} characters)")


def read_backup(content: bytes) -> Backup:
    """Check a whole backup file; BackupError names the first problem."""
    from veille.alerts import KINDS, validate_target

    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BackupError(f"not JSON: {exc}") from exc
    problem = _unstorable(document)
    if problem is not None:
        raise BackupError(problem)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BackupError(f'not a veille backup (no "format": "{FORMAT}"; `veille export` writes one)')
    if document.get("version") not in (1, VERSION):
        raise BackupError(f"backup version {document.get('version')!r} is not supported (this veille reads 1 and "
                          f"{VERSION})")
    if document["version"] == 2:
        document = _from_version_2(document)
    backup = Backup()
    seen: set[str] = set()
    for index, item in enumerate(_list(document, "feeds")):
        where = f"feeds[{index}]"
        url = _str(item, "url", where)
        try:
            http.check_scheme(url)
        except http.BlockedAddressError as exc:
            raise BackupError(f"{where}.url: {exc}") from exc
        except ValueError as exc:  # urlsplit refuses e.g. an unclosed IPv6 bracket
            raise BackupError(f"{where}.url: not a URL: {url} ({exc})") from exc
        _fits(url, URL_SIZE, f"{where}.url")
        _fits(item.get("title"), 1024, f"{where}.title")
        _fits(item.get("site_url"), URL_SIZE, f"{where}.site_url")
        interval = item.get("interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise BackupError(f"{where}.interval: expected a number of seconds above zero")
        feed_text = _str(item, "feed_text", where, default="auto")
        if feed_text not in FEED_TEXT:
            raise BackupError(f"{where}.feed_text: expected one of {', '.join(FEED_TEXT)}")
        if url in seen:
            raise BackupError(f"{where}.url: {url} is listed twice")
        seen.add(url)
        kind = _str(item, "kind", where, default="feed")
        if kind not in ("feed", "page"):
            raise BackupError(f"{where}.kind: expected feed or page, not {kind!r}")
        any_site = _bool(item, "any_site", where, False)
        backup.feeds.append({
            "kind": kind, "options": {"any_site": any_site} if kind == "page" else {},
            "url": url, "title": _str(item, "title", where, required=False),
            "site_url": _str(item, "site_url", where, required=False), "tags": _strings(item, "tags", where),
            "enabled": _bool(item, "enabled", where, True),
            "interval": float(interval),
            "interval_fixed": _bool(item, "interval_fixed", where, False), "feed_text": feed_text,
            "backfill": _seconds(item, "backfill", where), "resume_at": _when(item, "resume_at", where),
        })
    names: set[str] = set()
    for index, item in enumerate(_list(document, "channels")):
        where = f"channels[{index}]"
        name, kind = _str(item, "name", where), _str(item, "kind", where).lower()
        if kind not in KINDS:
            raise BackupError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
        try:
            target = validate_target(kind, _str(item, "target", where))
        except ValueError as exc:
            raise BackupError(f"{where}.target: {exc}") from exc
        if name in names:
            raise BackupError(f"{where}.name: {name!r} is listed twice")
        _fits(name, CHANNEL_NAME_SIZE, f"{where}.name")
        _fits(target, TARGET_SIZE, f"{where}.target")
        names.add(name)
        backup.channels.append({"name": name, "kind": kind, "target": target,
                                "options": _object(item, "options", where),
                                "enabled": _bool(item, "enabled", where, True),
                                "admin": _bool(item, "admin", where, False),
                                "resume_at": _when(item, "resume_at", where)})
    keys: set[str] = set()
    for index, item in enumerate(_list(document, "entities")):
        where = f"entities[{index}]"
        name = _str(item, "name", where)
        key = fold_term(name).strip()
        if not key:
            raise BackupError(f"{where}.name: must contain letters or digits")
        if key in keys:
            raise BackupError(f"{where}.name: {name!r} is listed twice")
        _fits(name, ENTITY_NAME_SIZE, f"{where}.name")
        _fits(key, ENTITY_NAME_SIZE, f"{where}.name")
        keys.add(key)
        entry = {"name": name, "aliases": _strings(item, "aliases", where),
                 "excludes": _strings(item, "excludes", where), "options": _object(item, "options", where),
                 "enabled": _bool(item, "enabled", where, True), "resume_at": _when(item, "resume_at", where)}
        try:
            entity = stored_entity(entry)
            pipeline.Matcher([pipeline.entity_spec(entity)])
        except QuerySyntaxError as exc:
            raise BackupError(f"{where}.options.query: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise BackupError(f"{where}.options: {exc}") from exc
        backup.entities.append(entry)
    return backup


# --------------------------------------------------------------------------- import


@dataclass(slots=True)
class ImportCounts:
    added: dict[str, int] = field(default_factory=lambda: {"feeds": 0, "entities": 0, "channels": 0})
    skipped: dict[str, int] = field(default_factory=lambda: {"feeds": 0, "entities": 0, "channels": 0})
    refused: list[str] = field(default_factory=list)  # feed URLs the address guard refuses
    email_channels: list[str] = field(default_factory=list)  # in the file


def import_backup(ctx: pipeline.Context, content: bytes) -> ImportCounts:
    """Check the whole file (BackupError names the first problem), then add what is missing in one
    transaction; feeds whose address the guard refuses are left out and listed."""
    backup = read_backup(content)
    guard = http.AddressGuard.from_settings(ctx.settings)
    refused: set[str] = set()
    for item in backup.feeds:
        try:
            pipeline.run_async(http.check_url(item["url"], guard))
        except http.BlockedAddressError:
            refused.add(item["url"])
        except http.FetchError:
            pass  # does not resolve now: imported, and the poll will record the error
    counts = ctx.db.run(_import, backup, refused)
    searching = [e["name"] for e in backup.entities if (e.get("options") or {}).get("search")]
    if searching:
        ctx.db.run(_sync_searches, ctx.settings, searching)
    counts.email_channels = [c["name"] for c in backup.channels if c["kind"] == "email"]
    return counts


def _sync_searches(s: Session, settings: Settings, names: list[str]) -> None:
    """The search sources of the entities that search the web's news, made from their definitions."""
    from veille.manage.entities import find_entity
    from veille.manage.searches import sync_searches

    for name in names:
        entity = find_entity(s, name)
        sync_searches(s, settings, entity)


def _import(s: Session, backup: Backup, refused: set[str]) -> ImportCounts:
    """Add what is not there yet, in the caller's transaction; a problem raises and nothing stays."""
    counts = ImportCounts(refused=sorted(refused))
    known_urls = set(s.scalars(select(Feed.url)))
    for item in backup.feeds:
        if item["url"] in known_urls:
            counts.skipped["feeds"] += 1
            continue
        if item["url"] in refused:
            continue
        s.add(Feed(**item, next_poll_at=utcnow()))
        known_urls.add(item["url"])
        counts.added["feeds"] += 1
    known_channels = set(s.scalars(select(Channel.name)))
    for item in backup.channels:
        if item["name"] in known_channels:
            counts.skipped["channels"] += 1
            continue
        s.add(Channel(**item))
        known_channels.add(item["name"])
        counts.added["channels"] += 1
    known_entities = set(s.scalars(select(Entity.name_key)))
    for index, item in enumerate(backup.entities):
        entity = stored_entity(item)
        entity.enabled, entity.resume_at = item["enabled"], item["resume_at"]
        if entity.name_key in known_entities:
            counts.skipped["entities"] += 1
            continue
        routed = item["options"].get("to") or []
        unknown = [n for n in routed if n not in known_channels] if isinstance(routed, list) else [routed]
        if unknown:
            raise BackupError(f"entities[{index}].options.to: no channel named "
                              f"{', '.join(map(repr, unknown))} in the file or the database")
        s.add(entity)
        known_entities.add(entity.name_key)
        counts.added["entities"] += 1
    s.flush()
    return counts


