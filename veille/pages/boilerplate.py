"""Block-level clean-up of an extracted main text.

trafilatura keeps some lines that belong to the page rather than the article: the headline
repeated as the first paragraph, teasers for other stories ("Related: ...", "Lire aussi"),
"most read" headings with their lists, newsletter and follow-us pitches. For a news monitor
they are worse than noise: a teaser names companies the article is not about. Each rule
looks at one short block; long paragraphs are never dropped.
"""

from __future__ import annotations

import re

from veille.pages.text import Block

# A block longer than this is prose, whatever it starts with.
_SHORT = 220

# "Related: <another story>", "Lire aussi : <another story>".
_TEASER_PREFIX = re.compile(
    r"^(?:related(?: stories| articles| content| coverage| reading| posts?)?|read more|read also|also read"
    r"|read next|see more|see also|more|don'?t miss|must read|watch|listen|photos?|videos?|podcast"
    r"|lire aussi|à lire aussi|a lire aussi|lire également|à lire également|voir aussi|à voir aussi"
    r"|sur le même sujet|à découvrir|a découvrir|lire la suite|écouter|regarder)"
    r"\s*[:>»|]",
    re.IGNORECASE,
)
_ALSO_ON = re.compile(r"^also on [\w-]+\.[a-z]{2,}\b", re.IGNORECASE)

# A heading that introduces a box of links to other pages (alone in its block).
_TEASER_HEADING = re.compile(
    r"^(?:related(?: \w+)?|read more|more|more (?:stories|news|from .{1,40})|don'?t miss|must read"
    r"|you (?:may|might) also (?:like|enjoy)|recommended(?: \w+){0,2}"
    r"|most (?:read|popular|viewed|shared)(?: .{1,40})?"
    r"|trending(?: now)?|editor'?s picks?|top stories|latest (?:news|stories)|further reading"
    r"|lire aussi|à lire aussi|a lire aussi|sur le même sujet|les plus lus|les plus partagés|à découvrir"
    r"|a découvrir|à voir aussi|dans la même rubrique|vous aimerez aussi"
    r"|nos (?:articles|contenus) recommandés"
    r"|articles? similaires|tags?|mots-clés|filed under.{0,60}|\d* ?comments?|commentaires?|réagissez"
    r"|share(?: this(?: article| story| post)?)?|partager(?: cet article)?|publicité|advertisement)"
    r"[\s:.…!|]*$",
    re.IGNORECASE,
)

# Pitches that are about the site, not the story.
_PITCH = re.compile(
    r"^follow (?:us|[\w@.' -]{1,60}) on (?:twitter|facebook|instagram|linkedin|youtube|x)\b"
    r"|^(?:subscribe|sign up|signup)\b.{0,120}\b(?:our|newsletters?|today|now|here|free|daily|weekly)\b"
    r"|^(?:abonnez-vous|inscrivez-vous|suivez-nous)\b"
    r"|\bshare (?:it|this)(?: story| article)? with\b"
    r"|^(?:crédits? photos?|photo credit|image credit)\s*:"
    r"|^this copy is for your personal, non-commercial use",
    re.IGNORECASE,
)
_NEWSLETTER = re.compile(r"\b(?:newsletters?|inbox)\b", re.IGNORECASE)
_NEWSLETTER_VERB = re.compile(
    r"\b(?:subscrib|sign up|signup|delivered|get |join|abonnez|inscri)", re.IGNORECASE
)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def is_teaser(block: Block) -> bool:
    """A one-line pointer to another story ("Related: ...", "Also on example.com ...")."""
    text = block.text
    if len(text) > _SHORT or "\n" in text:
        return False
    return bool(_TEASER_PREFIX.match(text) or _ALSO_ON.match(text))


def is_teaser_heading(block: Block) -> bool:
    return len(block.text) <= 80 and bool(_TEASER_HEADING.match(block.text))


def is_pitch(block: Block) -> bool:
    """Follow us, subscribe, newsletter, share-with-a-friend, photo credits."""
    text = block.text
    if len(text) > _SHORT or "\n" in text:
        return False
    return bool(_PITCH.search(text)) or bool(_NEWSLETTER.search(text) and _NEWSLETTER_VERB.search(text))


def _is_link_box(block: Block) -> bool:
    """A list, or several short lines: what follows a "Don't miss" or "Most read" heading."""
    lines = block.text.split("\n")
    return block.kind == "list" or (len(lines) >= 2 and all(len(line) <= 150 for line in lines))


def clean_blocks(blocks: list[Block], title: str = "") -> list[Block]:
    """``blocks`` without the headline repeated, teasers, teaser boxes, pitches and trailing headings."""
    headline = _norm(title)
    kept: list[Block] = []
    skip_box = False
    for index, block in enumerate(blocks):
        if skip_box and _is_link_box(block):
            skip_box = False
            continue
        skip_box = False
        if headline and index < 3 and _norm(block.text) == headline:
            continue
        if is_teaser_heading(block):
            skip_box = True
            continue
        if is_teaser(block) or is_pitch(block):
            continue
        kept.append(block)
    while kept and kept[-1].kind == "head":  # a heading with nothing under it heads nothing here
        kept.pop()
    return kept
