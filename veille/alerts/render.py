"""How an alert looks on each channel: plain text, Slack Block Kit, email HTML, Markdown (Apprise);
and how a digest (several articles grouped by entity) looks on each.

Everything that comes from a feed (title, source, snippet, URL) is untrusted. Each renderer
escapes it for its own medium here, so transports only move bytes:

- Slack mrkdwn: ``&``, ``<`` and ``>`` become entities, so feed text cannot ping
  ``<!channel>`` or forge ``<url|label>`` links; URLs are percent-encoded before linking.
- HTML: :func:`html.escape` on every piece, and only http(s) URLs become links.
- Plain text and subjects: line breaks collapsed, so nothing can start a new header.
- Markdown: every punctuation character Markdown gives meaning to is backslash-escaped, only
  http(s) URLs become links, and ``@everyone``/``@here``/``@channel`` are defused.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from veille.alerts.base import AlertMessage, DigestMessage, EntityMention

MAX_TITLE = 200
MAX_SNIPPET = 500
MAX_MENTIONS = 20  # Slack allows 50 blocks a message
MAX_ALSO = 10
MAX_DIGEST_SNIPPET = 200
SLACK_MAX_BLOCKS = 50
SLACK_SECTION = 2900  # Slack refuses a section over 3000 characters


# --- shared helpers -------------------------------------------------------------------------


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) collapsed to one space."""
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def split_snippet(mention: EntityMention, *, limit: int = MAX_SNIPPET) -> tuple[str, str, str]:
    """(before, hit, after) of a mention's snippet on one line, cut to about ``limit`` characters.

    An out-of-range highlight is clamped rather than trusted; surrounding whitespace of the hit
    moves to its neighbours so markup like ``*hit*`` stays valid.
    """
    snippet = mention.snippet
    start = max(0, min(mention.highlight[0], len(snippet)))
    end = max(start, min(mention.highlight[1], len(snippet)))
    before, hit, after = snippet[:start], snippet[start:end], snippet[end:]
    stripped = hit.strip()
    if stripped:
        lead = hit[: len(hit) - len(hit.lstrip())]
        trail = hit[len(hit.rstrip()) :]
        before, hit, after = before + lead, stripped, trail + after
    else:
        before, hit, after = before + hit, "", after
    before, hit, after = _collapse(before, keep_end=True), one_line(hit), _collapse(after, keep_end=False)
    room = max(0, limit - len(hit))
    if len(before) + len(after) > room:
        keep_before = min(len(before), max(room // 2, room - len(after)))
        keep_after = room - keep_before
        if keep_before < len(before):
            before = "…" + before[len(before) - keep_before :].lstrip()
        if keep_after < len(after):
            after = after[:keep_after].rstrip() + "…"
    return before, hit, after


def _collapse(text: str, *, keep_end: bool) -> str:
    """Collapse whitespace but keep one space at the edge that touches the hit."""
    collapsed = one_line(text)
    if not collapsed:
        return " " if text else ""
    if keep_end and text[-1:].isspace():
        return collapsed + " "
    if not keep_end and text[:1].isspace():
        return " " + collapsed
    return collapsed


def format_published(published: datetime | None) -> str | None:
    """``2024-05-01 14:03 UTC``; a naive datetime is taken as UTC."""
    if published is None:
        return None
    return _utc(published).strftime("%Y-%m-%d %H:%M UTC")


def iso_published(published: datetime | None) -> str | None:
    return None if published is None else _utc(published).isoformat().replace("+00:00", "Z")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _entity_label(mention: EntityMention) -> str:
    if mention.term and mention.term.casefold() != mention.entity.casefold():
        return f"{mention.entity} ({mention.term})"
    return mention.entity


# --- plain text -----------------------------------------------------------------------------


def subject(message: AlertMessage) -> str:
    """``[veille] Kyutai, Mistral AI: <title>`` on one line."""
    title = truncate(one_line(message.title) or "(untitled)", MAX_TITLE)
    entities = one_line(", ".join(message.entities))
    return f"[veille] {entities}: {title}" if entities else f"[veille] {title}"


def text_body(message: AlertMessage) -> str:
    lines = [one_line(message.title) or "(untitled)", message.url]
    meta = " · ".join(filter(None, [one_line(message.source), format_published(message.published)]))
    if meta:
        lines.append(meta)
    if message.mentions:
        lines += ["", "Matched: " + one_line(", ".join(message.entities))]
    for mention in message.mentions[:MAX_MENTIONS]:
        before, hit, after = split_snippet(mention)
        marked = f"{before}*{hit}*{after}" if hit else before + after
        lines += ["", one_line(_entity_label(mention)) + ":", "  " + marked.strip()]
    if message.also_covered_by:
        lines += ["", "Also covered by:"]
        lines += [f"  - {one_line(outlet)}: {url}" for outlet, url in message.also_covered_by[:MAX_ALSO]]
    lines += ["", "-- ", "Sent by veille"]
    return "\n".join(lines) + "\n"


# --- Slack ----------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to (``&`` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_url(url: str) -> str:
    """A URL safe inside ``<...|...>``: no ``|``, ``<``, ``>`` or spaces left, ``&`` escaped."""
    return slack_escape(quote(url.strip(), safe="!#$%&'()*+,/:;=?@[]~"))


def slack_link(url: str, label: str) -> str:
    """``<url|label>`` for http(s) URLs; anything else is shown as escaped text."""
    if not is_web_url(url):
        return slack_escape(label)
    return f"<{slack_url(url)}|{slack_escape(label)}>"


def slack_date(published: datetime) -> str:
    """Slack's date token: shown in each reader's time zone, with a UTC fallback."""
    fallback = format_published(published) or ""
    stamp = int(_utc(published).timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{slack_escape(fallback)}>"


def slack_snippet(mention: EntityMention) -> str:
    before, hit, after = split_snippet(mention)
    bold = f"*{slack_escape(hit)}*" if hit else ""
    return slack_escape(before) + bold + slack_escape(after)


def slack_payload(message: AlertMessage) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` for notifications, ``blocks`` for the message."""
    title = truncate(one_line(message.title) or "(untitled)", MAX_TITLE)
    entities = one_line(", ".join(message.entities))
    fallback = f"{entities}: {title}" if entities else title
    text = slack_escape(fallback) + (f" {slack_url(message.url)}" if is_web_url(message.url) else "")

    blocks: list[dict[str, Any]] = [_section(f"*{slack_link(message.url, title)}*")]
    meta = [slack_escape(one_line(message.source))] if one_line(message.source) else []
    if message.published is not None:
        meta.append(slack_date(message.published))
    if meta:
        blocks.append(_context(" · ".join(meta)))
    if message.mentions:
        names = ", ".join(f"*{slack_escape(one_line(name))}*" for name in message.entities)
        blocks.append(_section(f"Matched: {names}"))
    for mention in message.mentions[:MAX_MENTIONS]:
        label = slack_escape(one_line(_entity_label(mention)))
        snippet = slack_snippet(mention).strip()
        blocks.append(_section(f"{label}\n>{snippet}" if snippet else label))
    if message.also_covered_by:
        links = ", ".join(
            slack_link(url, one_line(outlet) or url) for outlet, url in message.also_covered_by[:MAX_ALSO]
        )
        blocks.append(_context(f"Also covered by {links}"))
    return {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def slack_text_payload(subject: str, body: str) -> dict[str, Any]:
    head = slack_escape(one_line(subject))
    text = f"*{head}*\n{slack_escape(body.strip())}" if body.strip() else f"*{head}*"
    return {"text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


# --- email HTML -----------------------------------------------------------------------------


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def html_link(url: str, label: str) -> str:
    """``<a href>`` for http(s) URLs; anything else (``javascript:``...) is plain escaped text."""
    if not is_web_url(url):
        return _h(label)
    return f'<a href="{_h(url.strip())}" style="color:#1a5fb4">{_h(label)}</a>'


def html_snippet(mention: EntityMention) -> str:
    before, hit, after = split_snippet(mention)
    marked = f'<mark style="background:#fff3a3"><strong>{_h(hit)}</strong></mark>' if hit else ""
    return _h(before) + marked + _h(after)


def html_body(message: AlertMessage) -> str:
    title = one_line(message.title) or "(untitled)"
    meta = " · ".join(filter(None, [one_line(message.source), format_published(message.published)]))
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{_h(title)}</title></head>",
        '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
        'color:#222;line-height:1.45;max-width:640px">',
        f'<p style="font-size:17px;margin:0 0 4px"><strong>{html_link(message.url, title)}</strong></p>',
    ]
    if meta:
        parts.append(f'<p style="color:#666;font-size:13px;margin:0 0 12px">{_h(meta)}</p>')
    if message.mentions:
        names = ", ".join(_h(one_line(name)) for name in message.entities)
        parts.append(f'<p style="margin:0 0 8px">Matched: <strong>{names}</strong></p>')
    for mention in message.mentions[:MAX_MENTIONS]:
        parts.append(
            '<p style="margin:0 0 10px;padding-left:10px;border-left:3px solid #ddd">'
            f'<span style="color:#666;font-size:13px">{_h(one_line(_entity_label(mention)))}</span><br>'
            f"{html_snippet(mention)}</p>"
        )
    if message.also_covered_by:
        links = ", ".join(
            html_link(url, one_line(outlet) or url) for outlet, url in message.also_covered_by[:MAX_ALSO]
        )
        parts.append(f'<p style="font-size:13px">Also covered by {links}</p>')
    parts += ['<p style="color:#999;font-size:12px;margin-top:16px">Sent by veille</p>', "</body></html>"]
    return "\n".join(parts) + "\n"


# --- digests --------------------------------------------------------------------------------


def _digest_count(digest: DigestMessage) -> str:
    n = len(digest.items)
    return f"{n} article" + ("" if n == 1 else "s")


def digest_subject(digest: DigestMessage) -> str:
    """``[veille] Daily digest: 3 articles (Kyutai, Mistral AI)`` on one line."""
    entities = truncate(one_line(", ".join(digest.entities)), MAX_TITLE)
    head = f"[veille] {one_line(digest.title)}: {_digest_count(digest)}"
    return f"{head} ({entities})" if entities else head


def _mention_of(item: AlertMessage, entity: str) -> EntityMention | None:
    return next((m for m in item.mentions if m.entity == entity), None)


def _digest_snippet(mention: EntityMention) -> tuple[str, str, str]:
    return split_snippet(mention, limit=MAX_DIGEST_SNIPPET)


def digest_text(digest: DigestMessage) -> str:
    lines = [f"{one_line(digest.title)}: {_digest_count(digest)}"]
    if digest.period:
        lines.append(one_line(digest.period))
    for entity, items in digest.by_entity():
        lines += ["", f"== {one_line(entity)} ({len(items)}) =="]
        for item in items:
            lines += ["", f"* {one_line(item.title) or '(untitled)'}", f"  {item.url}"]
            meta = " · ".join(filter(None, [one_line(item.source), format_published(item.published)]))
            if meta:
                lines.append(f"  {meta}")
            mention = _mention_of(item, entity)
            if mention is not None:
                before, hit, after = _digest_snippet(mention)
                marked = (f"{before}*{hit}*{after}" if hit else before + after).strip()
                if marked:
                    lines.append(f"  {marked}")
            if item.also_covered_by:
                also = ", ".join(f"{one_line(o)} <{u}>" for o, u in item.also_covered_by[:MAX_ALSO])
                lines.append(f"  Also covered by: {also}")
    lines += ["", "-- ", "Sent by veille"]
    return "\n".join(lines) + "\n"


def slack_digest_payload(digest: DigestMessage) -> dict[str, Any]:
    """One Slack message for a digest: a section per entity, its articles packed into sections."""
    title = slack_escape(one_line(digest.title))
    entities = one_line(", ".join(digest.entities))
    fallback = f"{one_line(digest.title)}: {_digest_count(digest)}" + (f" ({entities})" if entities else "")
    blocks: list[dict[str, Any]] = [_section(f"*{title}* · {_digest_count(digest)}")]
    if digest.period:
        blocks.append(_context(slack_escape(one_line(digest.period))))
    candidates: list[tuple[dict[str, Any], int]] = []  # (block, how many listings it carries)
    for entity, items in digest.by_entity():
        candidates.append((_section(f"*{slack_escape(one_line(entity))}* ({len(items)})"), 0))
        chunk: list[str] = []
        for item in items:
            line = _slack_digest_line(item, entity)
            if chunk and len("\n".join([*chunk, line])) > SLACK_SECTION:
                candidates.append((_section("\n".join(chunk)), len(chunk)))
                chunk = []
            chunk.append(line)
        if chunk:
            candidates.append((_section("\n".join(chunk)), len(chunk)))
    room = SLACK_MAX_BLOCKS - len(blocks)
    if len(candidates) <= room:
        blocks += [block for block, _ in candidates]
    else:
        kept = candidates[: room - 1]
        while kept and kept[-1][1] == 0:  # no entity heading without its articles
            kept.pop()
        blocks += [block for block, _ in kept]
        hidden = sum(n for _, n in candidates) - sum(n for _, n in kept)
        blocks.append(_context(f"… and {hidden} more: run `veille matches` to see them all"))
    return {"text": slack_escape(fallback), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def _slack_digest_line(item: AlertMessage, entity: str) -> str:
    title = truncate(one_line(item.title) or "(untitled)", MAX_TITLE)
    meta = [slack_escape(one_line(item.source))] if one_line(item.source) else []
    if item.published is not None:
        meta.append(slack_date(item.published))
    line = f"• {slack_link(item.url, title)}" + (f" · {' · '.join(meta)}" if meta else "")
    mention = _mention_of(item, entity)
    if mention is not None:
        before, hit, after = _digest_snippet(mention)
        snippet = (slack_escape(before) + (f"*{slack_escape(hit)}*" if hit else "") + slack_escape(after)).strip()
        if snippet:
            line += f"\n>{snippet}"
    if item.also_covered_by:
        links = ", ".join(slack_link(u, one_line(o) or u) for o, u in item.also_covered_by[:MAX_ALSO])
        line += f"\n_also covered by_ {links}"
    return truncate(line, SLACK_SECTION)


def digest_html(digest: DigestMessage) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{_h(one_line(digest.title))}</title></head>",
        '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
        'color:#222;line-height:1.45;max-width:640px">',
        f'<h2 style="font-size:18px;margin:0 0 4px">{_h(one_line(digest.title))}: {_h(_digest_count(digest))}</h2>',
    ]
    if digest.period:
        parts.append(f'<p style="color:#666;font-size:13px;margin:0 0 12px">{_h(one_line(digest.period))}</p>')
    for entity, items in digest.by_entity():
        parts.append(f'<h3 style="font-size:16px;margin:18px 0 6px">{_h(one_line(entity))} ({len(items)})</h3>')
        for item in items:
            title = one_line(item.title) or "(untitled)"
            meta = " · ".join(filter(None, [one_line(item.source), format_published(item.published)]))
            parts.append('<p style="margin:0 0 12px">')
            parts.append(f"<strong>{html_link(item.url, title)}</strong>")
            if meta:
                parts.append(f'<br><span style="color:#666;font-size:13px">{_h(meta)}</span>')
            mention = _mention_of(item, entity)
            if mention is not None:
                before, hit, after = _digest_snippet(mention)
                marked = f'<mark style="background:#fff3a3"><strong>{_h(hit)}</strong></mark>' if hit else ""
                parts.append(f"<br>{_h(before)}{marked}{_h(after)}")
            if item.also_covered_by:
                links = ", ".join(html_link(u, one_line(o) or u) for o, u in item.also_covered_by[:MAX_ALSO])
                parts.append(f'<br><span style="font-size:13px">Also covered by {links}</span>')
            parts.append("</p>")
    parts += ['<p style="color:#999;font-size:12px;margin-top:16px">Sent by veille</p>', "</body></html>"]
    return "\n".join(parts) + "\n"


# --- Markdown (Apprise) ---------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~=])")
_PINGS = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)


def md_escape(text: str) -> str:
    """Feed text made inert in Markdown (and in chat apps that ping on ``@everyone``)."""
    escaped = _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text))  # edges kept: they touch the hit
    return _PINGS.sub("@\u200b\\1", escaped)


def md_link(url: str, label: str) -> str:
    if not is_web_url(url):
        return md_escape(label)
    safe = quote(url.strip(), safe="!#$%&'*+,/:;=?@[]~").replace("(", "%28").replace(")", "%29")
    return f"[{md_escape(label)}]({safe})"


def md_title(message: AlertMessage) -> str:
    """The title line an Apprise service shows: ``Kyutai, Mistral AI: <title>`` (plain text)."""
    return subject(message).removeprefix("[veille] ")


def md_body(message: AlertMessage) -> str:
    title = truncate(one_line(message.title) or "(untitled)", MAX_TITLE)
    lines = [f"**{md_link(message.url, title)}**"]
    meta = " · ".join(filter(None, [one_line(message.source), format_published(message.published)]))
    if meta:
        lines.append(md_escape(meta))
    for mention in message.mentions[:MAX_MENTIONS]:
        before, hit, after = split_snippet(mention)
        marked = md_escape(before) + (f"**{md_escape(hit)}**" if hit else "") + md_escape(after)
        lines += ["", f"{md_escape(_entity_label(mention))}: {marked.strip()}"]
    if message.also_covered_by:
        links = ", ".join(md_link(u, one_line(o) or u) for o, u in message.also_covered_by[:MAX_ALSO])
        lines += ["", f"Also covered by {links}"]
    return "\n".join(lines) + "\n"


def md_digest(digest: DigestMessage) -> str:
    lines = [md_escape(digest.period)] if digest.period else []
    for entity, items in digest.by_entity():
        lines += ["", f"**{md_escape(entity)}** ({len(items)})", ""]
        for item in items:
            title = truncate(one_line(item.title) or "(untitled)", MAX_TITLE)
            meta = " · ".join(filter(None, [one_line(item.source), format_published(item.published)]))
            line = f"- {md_link(item.url, title)}" + (f" · {md_escape(meta)}" if meta else "")
            if item.also_covered_by:
                links = ", ".join(md_link(u, one_line(o) or u) for o, u in item.also_covered_by[:MAX_ALSO])
                line += f" (also covered by {links})"
            lines.append(line)
    return "\n".join(lines).strip() + "\n"
