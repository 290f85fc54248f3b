"""`python -m veille.bench run|farm|pages|plain ...`: see veille/bench/__init__.py and docs/performance.md."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from veille.settings import parse_duration


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _latency(text: str) -> float:
    value = _duration(text)
    if value > 10:
        raise argparse.ArgumentTypeError(f"a latency of {text} is not a network latency (use e.g. 100ms)")
    return value


def _farm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder holding extraction-benchmark/html/*.html.gz (default ../shared/data)")
    parser.add_argument("--feeds", type=int, default=100, help="feeds in the farm (default 100)")
    parser.add_argument("--items", type=int, default=10, help="items per feed (default 10)")
    parser.add_argument("--hosts", type=int, default=25, help="virtual hosts, one loopback address each (default 25)")
    parser.add_argument("--latency", type=_latency, default=0.1,
                        help="wait before each feed or page response, e.g. 100ms (default 100ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m veille.bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="the whole bench: head to head, the service, the matcher")
    _farm_arguments(run)
    run.add_argument("--concurrency", type=int, default=4, help="worker processes of `veille run` (default 4)")
    run.add_argument("--interval", type=_duration, default=60.0, help="the feeds' poll interval (default 1m)")
    run.add_argument("--steady", type=_duration, default=60.0,
                     help="how long the steady-state window lasts (default 1m; 0 skips it)")
    run.add_argument("--publish", type=int, default=30, help="items published for the latency phase (0 skips it)")
    run.add_argument("--publish-window", type=_duration, default=60.0,
                     help="items are published at random times over this window (default 1m)")
    run.add_argument("--first-poll-timeout", type=_duration, default=300.0,
                     help="give up waiting for the first poll's alerts after this long (default 5m)")
    run.add_argument("--entities", type=int, default=10_000, help="entities for the matcher bench (0 skips it)")
    run.add_argument("--no-peers", action="store_true", help="skip rss2email and the plain loop")
    run.add_argument("--no-service", action="store_true", help="skip the `veille run` phases")
    run.add_argument("--no-head-to-head", action="store_true", help="skip the `veille poll` / r2e / plain runs")
    run.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    run.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")

    farm = commands.add_parser("farm", help="serve the farm until interrupted")
    _farm_arguments(farm)
    farm.add_argument("--port", type=int, default=0, help="port on every host address (default: a free one)")
    farm.add_argument("--ready-file", type=Path, default=None,
                      help="write the farm's description (JSON) here once listening, instead of stdout")

    pages = commands.add_parser("pages", help="the web page at scale: p50/p95 per page on SQLite and PostgreSQL")
    pages.add_argument("--articles", type=int, default=100_000, help="stored articles (default 100000)")
    pages.add_argument("--feeds", type=int, default=1000, help="feeds (default 1000)")
    pages.add_argument("--entities", type=int, default=100, help="tracked entities (default 100)")
    pages.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    pages.add_argument("--database", action="append", choices=("sqlite", "postgresql"), default=None,
                       help="only this database (repeatable; default both)")
    pages.add_argument("--postgres", default=None,
                       help="a PostgreSQL server where a scratch database is created and dropped (default "
                            "$VEILLE_BENCH_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres)")
    pages.add_argument("--json", type=Path, default=None, help="also write every timing to this JSON file")
    pages.add_argument("--keep", action="store_true", help="keep the SQLite file, the scratch database, the log")

    plain = commands.add_parser("plain", help="the plain sequential loop (httpx + feedparser), once")
    plain.add_argument("feeds_file", type=Path, help="JSON list of feed URLs")
    plain.add_argument("state_file", type=Path, help="JSON state (ETags, seen links), created if missing")

    args = parser.parse_args(argv)
    if args.command == "run":
        from veille.bench.run import Options
        from veille.bench.run import run as run_bench

        for name in ("feeds", "items", "hosts", "concurrency"):
            if getattr(args, name) < 1:
                parser.error(f"--{name} must be at least 1")
        run_bench(Options(
            data=args.data, feeds=args.feeds, items=args.items, hosts=args.hosts, latency=args.latency,
            concurrency=args.concurrency, interval=args.interval, steady=args.steady, publish=args.publish,
            publish_window=args.publish_window, first_poll_timeout=args.first_poll_timeout,
            entities=args.entities, peers=not args.no_peers, service=not args.no_service,
            head_to_head=not args.no_head_to_head, json_out=args.json, keep=args.keep,
        ))
    elif args.command == "farm":
        from veille.bench.farm import make_farm, run_farm
        from veille.bench.pages import FarmDataError

        try:
            instance = make_farm(args.data, feeds=args.feeds, items=args.items, hosts=args.hosts,
                                 latency=args.latency, port=args.port)
        except (FarmDataError, ValueError) as exc:
            sys.exit(f"farm: {exc}")
        run_farm(instance, args.ready_file)
    elif args.command == "pages":
        from veille.bench import site

        for name in ("articles", "feeds", "entities", "requests"):
            if getattr(args, name) < 1:
                parser.error(f"--{name} must be at least 1")
        site.run(site.Options(
            articles=args.articles, feeds=args.feeds, entities=args.entities, requests=args.requests,
            databases=tuple(args.database or ("sqlite", "postgresql")),
            postgres=args.postgres or os.environ.get("VEILLE_BENCH_POSTGRES_URL") or site.DEFAULT_POSTGRES,
            json_out=args.json, keep=args.keep,
        ))
    else:
        from veille.bench.peers import plain_loop

        plain_loop(args.feeds_file, args.state_file)


if __name__ == "__main__":
    main()
