"""The feed's own words for an item, cleaned the way a page's text is: its title and its summary or content.

A summary is HTML: its tags go, its entities are decoded, and what a publishing tool adds around every item is
dropped, so that it can't mention anything: WordPress's "The post … appeared first on …" line (in the
languages WordPress ships), "Continue reading" and "Read more" links, "[…]" marks, share and like lines.
A title that the feed marks as text keeps its characters: one that reads ``<b>`` is those three characters.
"""

from __future__ import annotations

import re

# WordPress's footer of every item in a feed, as its translations write it
_POSTED_FIRST = re.compile(
    r"^(?:The post|L[’']article|La entrada|Der Beitrag|Il post|L[’']articolo|O post|Het bericht|De post)\s.+?\s"
    r"(?:appeared first on|est apparu en premier sur|a été publié en premier sur|se publicó primero en|"
    r"apareció primero en|erschien zuerst auf|ist zuerst erschienen auf|è apparso per la prima volta su|"
    r"apareceu primeiro em|apareceu primeiro no|verscheen eerst op)\s.+$",
    re.IGNORECASE | re.DOTALL,
)
# a line that is only a publishing tool's link or button
_CHROME = re.compile(
    r"^(?:[\[(]?\s*(?:…|\.\.\.)\s*[\])]?|"
    r"(?:continue reading|read more|read the full (?:story|article)|keep reading|lire la suite|"
    r"lire l[’']article|la suite|seguir leyendo|leer más|leer mas|weiterlesen|mehr lesen|continua a leggere|"
    r"leggi tutto|continuar lendo|leia mais)\b.*|"
    r"(?:share|share this|share on \w+|partager|partager sur \w+|compartir|teilen|condividi|tweet|"
    r"like this|j[’']aime|loading|chargement)\s*(?:[:…]|\.\.\.)?(?:\s*(?:facebook|twitter|x|linkedin|"
    r"email|e-mail|print|imprimer|whatsapp|reddit|telegram|bluesky|mastodon|threads)[,\s]*)*)$",
    re.IGNORECASE,
)
# a trailing "[…]" or "Continue reading …" on the last line of an excerpt
_TRAILING = re.compile(
    r"\s*(?:\[\s*(?:…|\.\.\.)\s*\]|(?:continue reading|read more|lire la suite|weiterlesen|leer más)\b[^\n]*)\s*$",
    re.IGNORECASE,
)


def feed_words(fragment: str | None) -> str:
    """A feed's summary or content as the plain text that is matched and shown."""
    if not fragment:
        return ""
    from veille.pages.text import html_to_text  # lxml, imported when a feed's text is first read

    paragraphs = []
    for paragraph in html_to_text(fragment).split("\n\n"):
        if _POSTED_FIRST.match(paragraph.strip()):
            continue
        lines = [line for line in paragraph.split("\n") if not _CHROME.match(line.strip())]
        if lines:
            lines[-1] = _TRAILING.sub("", lines[-1])
        kept = "\n".join(line for line in lines if line.strip())
        if kept:
            paragraphs.append(kept)
    return "\n\n".join(paragraphs)


def title_words(title: str, *, html: bool) -> str:
    """An item's title as text: a title the feed marks as HTML loses its tags and has its entities decoded;
    one marked as text (RSS titles are, unless they hold markup) is kept as it is."""
    title = title.strip()
    if not html or ("<" not in title and "&" not in title):
        return title
    from veille.pages.text import html_to_text

    return " ".join(html_to_text(title).split())
