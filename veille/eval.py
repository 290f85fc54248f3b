"""Measure veille's page extraction on third-party data kept outside the repository.

    python -m veille.eval extraction --data /work/shared/data [--compare] [--repeat N]
    python -m veille.eval pages --data /work/shared/data [--compare]
    python -m veille.eval feeds --data /work/shared/data
    python -m veille.eval listing --pages /work/shared/data/listing-pages [--json] [--verbose]

``extraction`` scores the article body on ``<data>/extraction-benchmark`` (181 pages with a
ground truth) the way that benchmark does: tokens ``\\w+``, multisets of 4-gram shingles,
per-page TP/FP/FN normalized to sum to 1, precision and recall averaged over pages,
F1 = 2PR/(P+R). Each extractor runs in a fresh interpreter, so pages/s counts its imports.

``pages`` reads ``<data>/pages`` (French and English pages with snippets that must and must
not appear in the main text) and prints the share of each that the extractor gets right.

``--compare`` runs plain trafilatura (defaults, and with comments excluded) in the same run.

``feeds`` runs every file of ``<data>/feeds`` and ``<data>/feedparser-tests`` (their READMEs,
manifests and licences aside) through :func:`veille.feeds.parse.parse_feed`, as the poller does,
and counts what became of each: parsed, recovered (feedparser's bozo flag, yet entries found),
a warning and no entry, rejected (FeedParseError, grouped by reason) and exceptions (any
other exception: a bug, which would crash a poll). Exit status 1 when there is an exception.

``listing`` scores the article links found on listing pages (:func:`veille.pages.listing.find_article_links`,
what page sources use) against hand-labelled ones: any folder of ``<name>.html`` with ``<name>.url`` (the page's
address, its base URL: nothing is fetched) and ``<name>.expected.txt`` (one URL per line). URLs are compared by
the product's own identity key (:func:`veille.pages.urls.url_key` after normalization). Precision and recall per
page, and pooled over the folder (every link of every page counted once); ``--json`` prints them as
``{"pages": [{"name", "precision", "recall", "found", "expected"}], "precision", "recall"}``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib
import json
import logging
import multiprocessing
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_TOKENS = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")

EXTRACTORS = ("veille", "trafilatura", "trafilatura-nocomments")


class DataError(Exception):
    """The evaluation data is missing or not laid out as expected."""


# --- extractors, each loaded inside its own process ---------------------------------------------


def load_extractor(name: str) -> Callable[[bytes, str], str]:
    """A function (html bytes, url) -> main text; importing it is part of what is timed."""
    if name == "veille":
        from veille.pages.extract import extract_article

        importlib.import_module("trafilatura")  # imported on first use: count it with the imports

        return lambda html, url: extract_article(html, url=url).text
    import trafilatura

    comments = name == "trafilatura"
    return lambda html, url: trafilatura.extract(html, url=url, include_comments=comments) or ""


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    texts: dict[str, str]
    seconds: float  # imports and extraction, file reading excluded
    import_seconds: float

    @property
    def pages_per_second(self) -> float:
        return len(self.texts) / self.seconds if self.seconds else 0.0


def _run_in_process(name: str, pages: dict[str, tuple[bytes, str]]) -> Run:
    started = time.perf_counter()
    extract = load_extractor(name)
    imported = time.perf_counter()
    texts = {key: extract(html, url) for key, (html, url) in pages.items()}
    return Run(name, texts, time.perf_counter() - started, imported - started)


def run_extractor(name: str, pages: dict[str, tuple[bytes, str]]) -> Run:
    """Run one extractor over ``pages`` in a fresh interpreter."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_run_in_process, (name, pages))


# --- the benchmark's metric ---------------------------------------------------------------------


def shingles(text: str, size: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKENS.findall(text)
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


def precision_recall(predicted: str, expected: str) -> tuple[float, float]:
    """One page's precision and recall over 4-gram shingles (TP/FP/FN normalized to sum to 1)."""
    got, want = shingles(predicted), shingles(expected)
    tp = sum((got & want).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    if tp + fp + fn == 0:
        return 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score(texts: dict[str, str], truth: dict[str, str]) -> Score:
    pairs = [precision_recall(texts.get(key, ""), expected) for key, expected in truth.items()]
    return Score(sum(p for p, _ in pairs) / len(pairs), sum(r for _, r in pairs) / len(pairs))


# --- data ---------------------------------------------------------------------------------------


def _folder(data: Path, name: str) -> Path:
    folder = data / name
    if not folder.is_dir():
        raise DataError(f"{folder} not found: pass --data the folder that holds {name}/")
    return folder


def load_benchmark(data: Path) -> tuple[dict[str, tuple[bytes, str]], dict[str, str]]:
    """Pages (id -> (html bytes, url)) and their expected article bodies."""
    folder = _folder(data, "extraction-benchmark")
    truth_file = folder / "ground-truth.json"
    if not truth_file.is_file():
        raise DataError(f"{truth_file} not found")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    pages = {}
    for key, item in truth.items():
        path = folder / "html" / f"{key}.html.gz"
        if not path.is_file():
            raise DataError(f"{path} not found (listed in ground-truth.json)")
        pages[key] = (gzip.decompress(path.read_bytes()), item["url"])
    return pages, {key: item["articleBody"] for key, item in truth.items()}


@dataclass(frozen=True, slots=True)
class SnippetCase:
    url: str
    path: Path
    with_: tuple[str, ...]
    without: tuple[str, ...]
    meta: dict[str, str]


def load_snippet_cases(data: Path) -> list[SnippetCase]:
    folder = _folder(data, "pages")
    index = folder / "trafilatura-evaldata.subset.json"
    if not index.is_file():
        raise DataError(f"{index} not found")
    files = {path.name: path for path in (folder / "trafilatura").glob("*/*.html")}
    cases = []
    for url, item in json.loads(index.read_text(encoding="utf-8")).items():
        path = files.get(item["file"])
        if path is None:
            raise DataError(f"{item['file']} is listed in {index.name} but is not under {folder}/trafilatura")
        meta = {key: item[key] for key in ("title", "author", "date") if isinstance(item.get(key), str)}
        cases.append(SnippetCase(url, path, tuple(item["with"]), tuple(item["without"]), meta))
    return cases


def contains(text: str, snippet: str) -> bool:
    return _SPACES.sub(" ", snippet).strip() in text


# --- commands -----------------------------------------------------------------------------------


def evaluate_extraction(
    data: Path, *, compare: bool, repeat: int = 1, out: Callable[[str], None] = print
) -> dict[str, Score]:
    """Score and time each extractor; with ``repeat`` > 1 the runs are interleaved and the median speed is shown."""
    pages, truth = load_benchmark(data)
    names = EXTRACTORS if compare else EXTRACTORS[:1]
    out(f"{len(pages)} pages from {data / 'extraction-benchmark'}"
        + (f", {repeat} interleaved runs per extractor, median speed" if repeat > 1 else ""))
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for _ in range(max(1, repeat)):
        for name in names:  # interleaved, so a busy moment of the machine hurts every extractor alike
            runs[name].append(run_extractor(name, pages))
    out(f"{'extractor':<24}{'precision':>10}{'recall':>9}{'F1':>8}{'pages/s':>10}{'imports s':>11}")
    scores = {}
    for name in names:
        result = scores[name] = score(runs[name][0].texts, truth)
        speed = statistics.median(run.pages_per_second for run in runs[name])
        imports = statistics.median(run.import_seconds for run in runs[name])
        out(f"{name:<24}{result.precision:>10.4f}{result.recall:>9.4f}{result.f1:>8.4f}{speed:>10.1f}{imports:>11.2f}")
    return scores


def evaluate_pages(
    data: Path, *, compare: bool, verbose: bool = False, out: Callable[[str], None] = print
) -> dict[str, tuple[float, float]]:
    cases = load_snippet_cases(data)
    pages = {case.url: (case.path.read_bytes(), case.url) for case in cases}
    names = EXTRACTORS if compare else EXTRACTORS[:1]
    n_with = sum(len(case.with_) for case in cases)
    n_without = sum(len(case.without) for case in cases)
    out(f"{len(cases)} pages, {n_with} snippets that must appear, {n_without} that must not")
    out(f"{'extractor':<24}{'with found':>12}{'without avoided':>17}")
    shares = {}
    for name in names:
        run = run_extractor(name, pages)
        found = avoided = 0
        misses: list[str] = []
        for case in cases:
            text = _SPACES.sub(" ", run.texts[case.url])
            for snippet in case.with_:
                if contains(text, snippet):
                    found += 1
                else:
                    misses.append(f"  missing  {case.path.name}: {snippet!r}")
            for snippet in case.without:
                if contains(text, snippet):
                    misses.append(f"  kept     {case.path.name}: {snippet!r}")
                else:
                    avoided += 1
        shares[name] = (found / n_with, avoided / n_without)
        out(
            f"{name:<24}{found:>6}/{n_with:<5}{found / n_with:>6.1%}"
            f"{avoided:>6}/{n_without:<5}{avoided / n_without:>6.1%}"
        )
        if verbose:
            for line in misses:
                out(line)
    _report_metadata(cases, out)
    return shares


def _report_metadata(cases: list[SnippetCase], out: Callable[[str], None]) -> None:
    """How often veille's title, author and date agree with the ones the data gives."""
    from veille.pages.extract import extract_article

    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for case in cases:
        article = extract_article(case.path.read_bytes(), url=case.url)
        got = {
            "title": article.title,
            "author": article.author or "",
            "date": article.published.date().isoformat() if article.published else "",
        }
        for key, expected in case.meta.items():
            totals[key] += 1
            hits[key] += _same(got[key], expected)
    summary = ", ".join(f"{key} {hits[key]}/{totals[key]}" for key in ("title", "author", "date"))
    out(f"veille metadata, exact matches (where the data gives one): {summary}")


def _same(got: str, expected: str) -> bool:
    return _SPACES.sub(" ", got).strip().casefold() == _SPACES.sub(" ", expected).strip().casefold()


# --- feed parsing robustness --------------------------------------------------------------------

FEED_CORPORA = ("feeds", "feedparser-tests")
_DOCUMENTS = frozenset({"README.md", "MANIFEST.tsv", "EXPECTATIONS.tsv", "LICENSE"})
EXPECTED_OUTPUTS = "feeds, expected outputs"


@dataclass(frozen=True, slots=True)
class FeedFile:
    path: Path
    name: str  # the path under the data folder, e.g. "feeds/french/x.xml"
    group: str  # the corpus, or EXPECTED_OUTPUTS for a parser's expected output stored beside its feed
    headers: dict[str, str]  # the HTTP headers the corpus says the file is served with


def _manifest(folder: Path, name: str) -> list[dict[str, str]]:
    path = folder / name
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _simulated_headers(relative: str, declared: str) -> dict[str, str]:
    """feedparser's test corpus serves files whose path says "http" with the headers their comment declares."""
    headers = {}
    for line in declared.splitlines():
        name, _, value = line.partition(":")
        if name.strip() and value.strip():
            headers[name.strip()] = value.strip()
    if "http" in relative and not any(key.lower() == "content-type" for key in headers):
        headers["Content-Type"] = "text/xml"  # the corpus's default
    return headers


def is_expected_output(path: Path) -> bool:
    """A parser's expected output stored beside its feed (``x.serde.json``, ``x.expected.json``, or ``x.json``
    next to ``x.xml``), not a feed. (MANIFEST.tsv also lists ``json_feed_sample.json``, a JSON Feed, as one.)"""
    if path.suffix != ".json":
        return False
    if path.name.endswith((".serde.json", ".expected.json")):
        return True
    return any(other != path and other.suffix != ".json" for other in path.parent.glob(f"{path.stem}.*"))


def load_feed_files(data: Path) -> list[FeedFile]:
    """Every file of the feed corpora but their documentation, in a stable order."""
    files = []
    for corpus in FEED_CORPORA:
        folder = _folder(data, corpus)
        declared = {row["file"]: row.get("http_headers_to_simulate") or ""
                    for row in _manifest(folder, "EXPECTATIONS.tsv")}
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder).as_posix()
            if not path.is_file() or relative in _DOCUMENTS:
                continue
            group = EXPECTED_OUTPUTS if is_expected_output(path) else corpus
            headers = _simulated_headers(relative, declared.get(relative, "")) if corpus == "feedparser-tests" else {}
            files.append(FeedFile(path, f"{corpus}/{relative}", group, headers))
    return files


@dataclass(slots=True)
class FeedCounts:
    files: int = 0
    parsed: int = 0  # no warning
    recovered: int = 0  # bozo, yet entries found
    empty_warned: int = 0  # bozo and no entry: recognized as a feed, nothing to read
    rejected: int = 0  # FeedParseError
    exceptions: int = 0  # anything else: a bug
    entries: int = 0
    seconds: float = 0.0

    def add(self, other: FeedCounts) -> None:
        for name in ("files", "parsed", "recovered", "empty_warned", "rejected", "exceptions", "entries",
                     "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class FeedReport:
    groups: dict[str, FeedCounts]
    total: FeedCounts
    reasons: dict[str, list[str]]  # rejection reason -> files
    exceptions: dict[str, str]  # file -> "TypeName: message"


def _reason(message: str, url: str) -> str:
    return message.replace(f" at {url}", "").replace(url, "<file>")


def run_feed_files(files: list[FeedFile]) -> FeedReport:
    """Parse each file as the poller would parse a response; never raises for a file."""
    from veille.feeds.parse import FeedParseError, parse_feed

    groups: dict[str, FeedCounts] = {}
    reasons: dict[str, list[str]] = {}
    exceptions: dict[str, str] = {}
    contents = [(item, item.path.read_bytes()) for item in files]
    parse_log = logging.getLogger("veille.feeds.parse")
    level, parse_log.level = parse_log.level, logging.ERROR  # notes are counted here, not logged
    try:
        for item, content in contents:
            counts = groups.setdefault(item.group, FeedCounts())
            counts.files += 1
            url = item.path.resolve().as_uri()
            started = time.perf_counter()
            try:
                parsed = parse_feed(content, url=url, headers=item.headers)
            except FeedParseError as exc:
                counts.rejected += 1
                reasons.setdefault(_reason(str(exc), url), []).append(item.name)
                continue
            except Exception as exc:
                counts.exceptions += 1
                exceptions[item.name] = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                counts.seconds += time.perf_counter() - started
            counts.entries += len(parsed.entries)
            if not parsed.warning:
                counts.parsed += 1
            elif parsed.entries:
                counts.recovered += 1
            else:
                counts.empty_warned += 1
    finally:
        parse_log.setLevel(level)
    total = FeedCounts()
    for counts in groups.values():
        total.add(counts)
    return FeedReport(groups, total, reasons, exceptions)


def evaluate_feeds(data: Path, *, out: Callable[[str], None] = print) -> FeedReport:
    files = load_feed_files(data)
    report = run_feed_files(files)
    out(f"{len(files)} files from {', '.join(str(data / corpus) for corpus in FEED_CORPORA)}, "
        f"through veille.feeds.parse.parse_feed")
    out(f"{'':<24}{'files':>6}{'parsed':>8}{'recovered':>11}{'warned, empty':>15}{'rejected':>10}"
        f"{'exceptions':>12}{'entries':>9}{'files/s':>9}")
    rows = [(name, report.groups[name]) for name in (*FEED_CORPORA, EXPECTED_OUTPUTS) if name in report.groups]
    for name, counts in [*rows, ("total", report.total)]:
        rate = counts.files / counts.seconds if counts.seconds else 0.0
        out(f"{name:<24}{counts.files:>6}{counts.parsed:>8}{counts.recovered:>11}{counts.empty_warned:>15}"
            f"{counts.rejected:>10}{counts.exceptions:>12}{counts.entries:>9}{rate:>9.0f}")
    out("parsed: no warning; recovered: not well-formed (feedparser's bozo) but entries found; warned, empty: "
        "a feed with a warning and no entry; files/s: parsing only")
    if report.reasons:
        out("rejected, by reason:")
        for reason, names in sorted(report.reasons.items(), key=lambda item: (-len(item[1]), item[0])):
            shown = ", ".join(names[:3]) + (f", ... ({len(names) - 3} more)" if len(names) > 3 else "")
            out(f"{len(names):>5}  {reason}  [{shown}]")
    if report.exceptions:
        out("exceptions (bugs: parse_feed must raise FeedParseError or return):")
        for name, error in report.exceptions.items():
            out(f"       {name}: {error}")
    return report


# --- article links of listing pages --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingPage:
    name: str
    html: Path
    url: str
    expected: frozenset[str]  # identity keys


@dataclass(frozen=True, slots=True)
class ListingScore:
    name: str
    found: int
    expected: int
    true_positives: int
    missed: tuple[str, ...]  # expected, not found
    extra: tuple[str, ...]  # found, not expected

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else (1.0 if not self.expected else 0.0)

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected if self.expected else 1.0


@dataclass(frozen=True, slots=True)
class ListingReport:
    pages: tuple[ListingScore, ...]

    @property
    def precision(self) -> float:
        found = sum(p.found for p in self.pages)
        return sum(p.true_positives for p in self.pages) / found if found else 0.0

    @property
    def recall(self) -> float:
        expected = sum(p.expected for p in self.pages)
        return sum(p.true_positives for p in self.pages) / expected if expected else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "pages": [{"name": p.name, "precision": round(p.precision, 4), "recall": round(p.recall, 4),
                       "found": p.found, "expected": p.expected} for p in self.pages],
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def _identity(url: str, base: str | None = None) -> str | None:
    from veille.pages.urls import normalize_url, url_key

    try:
        return url_key(normalize_url(url, base=base))
    except ValueError:
        return None


def load_listing_pages(folder: Path) -> list[ListingPage]:
    """Every ``<name>.html`` of the folder that has its ``<name>.url`` and ``<name>.expected.txt``."""
    if not folder.is_dir():
        raise DataError(f"{folder} not found: pass --pages a folder of <name>.html, <name>.url, <name>.expected.txt")
    pages = []
    for html in sorted(folder.glob("*.html")):
        name = html.name.removesuffix(".html")
        url_file, expected_file = folder / f"{name}.url", folder / f"{name}.expected.txt"
        if not url_file.is_file() or not expected_file.is_file():
            raise DataError(f"{html} has no {url_file.name} or {expected_file.name} beside it")
        url = url_file.read_text(encoding="utf-8").strip()
        if _identity(url) is None:
            raise DataError(f"{url_file}: not an http(s) URL: {url!r}")
        lines = [line.strip() for line in expected_file.read_text(encoding="utf-8").splitlines()]
        keys = {key for line in lines if line and not line.startswith("#") if (key := _identity(line, url))}
        pages.append(ListingPage(name, html, url, frozenset(keys)))
    if not pages:
        raise DataError(f"no <name>.html in {folder}")
    return pages


def score_listing(page: ListingPage) -> ListingScore:
    from veille.pages.listing import find_article_links

    found = {key for link in find_article_links(page.html.read_bytes(), page.url) if (key := _identity(link.url))}
    hits = found & page.expected
    return ListingScore(page.name, len(found), len(page.expected), len(hits),
                        tuple(sorted(page.expected - found)), tuple(sorted(found - page.expected)))


def evaluate_listing(
    folder: Path, *, as_json: bool = False, verbose: bool = False, out: Callable[[str], None] = print
) -> ListingReport:
    report = ListingReport(tuple(score_listing(page) for page in load_listing_pages(folder)))
    if as_json:
        out(json.dumps(report.as_json(), indent=2))
        return report
    width = max(len(p.name) for p in report.pages)
    out(f"{len(report.pages)} pages from {folder}, through veille.pages.listing.find_article_links")
    out(f"{'page':<{width}}{'precision':>11}{'recall':>8}{'found':>7}{'expected':>10}")
    for page in report.pages:
        out(f"{page.name:<{width}}{page.precision:>11.3f}{page.recall:>8.3f}{page.found:>7}{page.expected:>10}")
        if verbose:
            for key in page.missed:
                out(f"    missed  {key}")
            for key in page.extra:
                out(f"    extra   {key}")
    found = sum(p.found for p in report.pages)
    expected = sum(p.expected for p in report.pages)
    out(f"{'pooled':<{width}}{report.precision:>11.3f}{report.recall:>8.3f}{found:>7}{expected:>10}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m veille.eval", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("extraction", "pages"):
        sub = commands.add_parser(command)
        sub.add_argument(
            "--data", type=Path, required=True, help="the folder that holds extraction-benchmark/ and pages/"
        )
        sub.add_argument("--compare", action="store_true", help="also run plain trafilatura")
        sub.add_argument("--verbose", action="store_true", help="pages: list each snippet missed or kept")
        if command == "extraction":
            sub.add_argument("--repeat", type=int, default=1,
                             help="run each extractor N times, interleaved, and show the median speed")
    feeds = commands.add_parser("feeds", help="feed parsing robustness on the feed corpora")
    feeds.add_argument("--data", type=Path, required=True, help="the folder that holds feeds/ and feedparser-tests/")
    listing = commands.add_parser("listing", help="article links found on hand-labelled listing pages")
    listing.add_argument("--pages", type=Path, required=True,
                         help="a folder of <name>.html, <name>.url and <name>.expected.txt")
    listing.add_argument("--json", action="store_true", help="print the scores as JSON")
    listing.add_argument("--verbose", action="store_true", help="list each link missed or found in excess")
    args = parser.parse_args(argv)
    try:
        if args.command == "extraction":
            evaluate_extraction(args.data, compare=args.compare, repeat=args.repeat)
        elif args.command == "pages":
            evaluate_pages(args.data, compare=args.compare, verbose=args.verbose)
        elif args.command == "listing":
            evaluate_listing(args.pages, as_json=args.json, verbose=args.verbose)
        else:
            return 1 if evaluate_feeds(args.data).total.exceptions else 0
    except DataError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
