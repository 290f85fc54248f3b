"""`veille extract`: a page's main text and metadata, the way the workers extract it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from veille import http, pipeline
from veille.cli.app import app
from veille.cli.common import err, fail, iso, log, setup_logging
from veille.pages.extract import Article
from veille.pages.fetch import ExtractorCrashed, extract_page, extraction_processes, fetch_page
from veille.settings import Settings, SettingsError, get_settings

# "example.org/news/x": a URL written without its scheme, not a file
_HOST_LIKE = re.compile(r"^(www\.|[\w-]+(\.[\w-]+)+/)", re.IGNORECASE)


class ExtractError(Exception):
    """One input could not be extracted; the message says why."""


@dataclass(frozen=True, slots=True)
class Extracted:
    source: str  # the argument as given
    url: str  # the final URL after redirects, or the file's file:// URI
    article: Article

    def as_dict(self) -> dict[str, Any]:
        a = self.article
        return {
            "source": self.source,
            "url": self.url,
            "canonical_url": a.canonical_url,
            "title": a.title,
            "text": a.text,
            "published": iso(a.published),
            "language": a.language,
            "author": a.author,
        }


def is_url(source: str) -> bool:
    return "://" in source and not source.lower().startswith("file://")


def _read_file(source: str) -> tuple[bytes, str]:
    """The file's bytes and its file:// URI."""
    path = Path(source[len("file://"):] if source.lower().startswith("file://") else source)
    try:
        content = path.read_bytes()
    except OSError as exc:
        hint = " (write URLs with http:// or https://)" if _HOST_LIKE.match(source) and not path.exists() else ""
        raise ExtractError(f"cannot read {source}: {exc.strerror or exc}{hint}") from exc
    return content, path.resolve().as_uri()


async def _run(settings: Settings, sources: Sequence[str], emit: Callable[[Extracted], None]) -> int:
    limiter = http.HostLimiter(settings.per_host_concurrency, settings.fetch_concurrency)
    async with http.make_client(settings) as client:

        async def one(source: str) -> Extracted:
            try:
                if not is_url(source):
                    content, url = _read_file(source)
                    # any encoding: the bytes go to the decoder (BOM, <meta charset>, then detection); extracted
                    # in the pool of processes like a fetched page, never on a thread (lxml must not share one)
                    return Extracted(source, url, await extract_page(content, url=url))
                async with limiter.slot(source):
                    page = await fetch_page(client, source, max_bytes=settings.max_page_bytes)
            except http.FetchError as exc:
                raise ExtractError(f"{source}: {exc}") from exc
            except ExtractorCrashed as exc:
                raise ExtractError(f"{source}: {exc} on this page") from exc
            if page.article is None:
                raise ExtractError(f"{source}: skipped: {page.skipped}")
            return Extracted(source, page.url, page.article)

        tasks = [asyncio.create_task(one(source)) for source in sources]
        failed = 0
        # printed in the order given, each as soon as it and the ones before it are done
        for source, task in zip(sources, tasks, strict=True):
            try:
                emit(await task)
            except ExtractError as exc:
                failed += 1
                err.print(f"error: {exc}", markup=False)
            except Exception as exc:  # a bug must not cost the other inputs their output
                failed += 1
                log.exception("extract failed", extra={"entry_url": source})
                err.print(f"error: {source}: unexpected {type(exc).__name__}: {exc}", markup=False)
        return failed


def _print_json(item: Extracted) -> None:
    sys.stdout.write(json.dumps(item.as_dict(), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _print_block(item: Extracted) -> None:
    a = item.article
    lines = [f"== {item.source}", f"title:     {a.title or '-'}", f"url:       {item.url}"]
    if a.canonical_url and a.canonical_url != item.url:
        lines.append(f"canonical: {a.canonical_url}")
    lines += [
        f"published: {iso(a.published) or '-'}",
        f"language:  {a.language or '-'}",
        f"author:    {a.author or '-'}",
        f"text:      {len(a.text)} characters",
        "",
        a.text or "(no main text found)",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


EXTRACT_HELP = (
    "Print the main text and metadata of pages, as the workers extract them; exit 1 if any input failed.\n\n"
    "URLs are fetched concurrently through the workers' guarded client (VEILLE_ALLOW_PRIVATE_ADDRESSES=1 "
    "for local ones); files may be HTML in any encoding."
)


@app.command(help=EXTRACT_HELP)
def extract(
    sources: Annotated[list[str], typer.Argument(metavar="FILE_OR_URL...", help="HTML files or http(s) URLs.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print pages' main text and metadata as the workers extract them; exit 1 if any input failed."""
    try:
        settings = get_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from exc
    setup_logging(settings)
    # pages are extracted in processes (one per core, started before any thread), as `veille poll` does
    with extraction_processes(settings.poll_processes or None):
        failed = pipeline.run_async(_run(settings, sources, _print_json if as_json else _print_block))
    if failed:
        raise typer.Exit(1)
