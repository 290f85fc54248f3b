"""The bench runner: the farm, then veille, rss2email and a plain loop against it; figures and ratios.

Phases, in order (each prints its figures as it ends; a summary and the targets close the run):

1. head to head, on a farm no one has polled: ``veille poll`` twice (a fresh SQLite database, an email
   channel to a loopback SMTP sink), ``r2e run`` twice (SMTP to the same sink), the plain loop twice;
   whole processes, wall clock, CPU and peak RSS from wait4 (what ``/usr/bin/time -v`` reports);
2. the service: ``veille run`` (Redis broker, SQLite, a webhook channel to a loopback receiver), feeds
   polled every ``--interval``:
   a. first poll: every article from feed to delivered alert; articles per second;
   b. steady state, feeds unchanged: polls per second, CPU per poll (from /proc, the service's process
      tree, Redis apart), bytes per poll (both directions, counted by the farm);
   c. latency: items published at random times while the service runs; publication to webhook arrival;
   d. resident memory of every service process; database size per 10,000 articles;
3. the matcher at 10,000 entities (``python -m veille.matching.bench``).
"""

from __future__ import annotations

import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from veille.bench import peers, probes
from veille.bench.pages import ENTITY

TARGET_FEEDS = 10_000
TARGET_EVERY = 300.0


@dataclass(slots=True)
class Options:
    data: Path
    feeds: int = 100
    items: int = 10
    hosts: int = 25
    latency: float = 0.1
    concurrency: int = 2
    interval: float = 60.0
    steady: float = 60.0
    publish: int = 30
    publish_window: float = 60.0
    first_poll_timeout: float = 300.0
    entities: int = 10_000
    peers: bool = True
    service: bool = True
    head_to_head: bool = True
    json_out: Path | None = None
    keep: bool = False


@dataclass(slots=True)
class Report:
    started: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    farm: dict[str, Any] = field(default_factory=dict)
    head_to_head: dict[str, Any] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)
    matcher: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def say(text: str = "") -> None:
    print(text, flush=True)


def machine() -> dict[str, Any]:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


# --------------------------------------------------------------------------- the farm, as a process


class FarmProcess:
    def __init__(self, options: Options, workdir: Path) -> None:
        ready = workdir / "farm.json"
        self.log = workdir / "farm.log"
        argv = [sys.executable, "-m", "veille.bench", "farm", "--data", str(options.data),
                "--feeds", str(options.feeds), "--items", str(options.items), "--hosts", str(options.hosts),
                "--latency", str(options.latency), "--ready-file", str(ready)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the farm did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        self.description: dict[str, Any] = json.loads(ready.read_text())
        self.feeds: list[str] = self.description["feeds"]
        self.control: str = self.description["control"]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control}/stats", timeout=10) as response:
            return dict(json.loads(response.read()))

    def mark(self) -> None:
        request = urllib.request.Request(f"{self.control}/mark", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).close()

    def publish(self, feed: int) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.control}/publish?feed={feed}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    def cpu(self) -> float:
        return probes.cpu_seconds([self.process.pid])

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def counter(stats: dict[str, Any], kind: str) -> dict[str, Any]:
    return dict(stats.get(kind) or {"requests": 0, "bytes_in": 0, "bytes_out": 0, "statuses": {},
                                      "first": None, "last": None})


def delta(after: dict[str, Any], before: dict[str, Any], kind: str) -> dict[str, Any]:
    a, b = counter(after, kind), counter(before, kind)
    statuses = {k: v - int(b["statuses"].get(k, 0)) for k, v in a["statuses"].items()}
    return {"requests": a["requests"] - b["requests"], "bytes_in": a["bytes_in"] - b["bytes_in"],
            "bytes_out": a["bytes_out"] - b["bytes_out"], "statuses": {k: v for k, v in statuses.items() if v}}


# --------------------------------------------------------------------------- veille as processes


def veille_binary() -> str:
    beside = Path(sys.executable).with_name("veille")
    return str(beside) if beside.exists() else "veille"


def veille_env(workdir: Path, interval: float, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update({
        "VEILLE_DATA_DIR": str(workdir / "data"),
        "VEILLE_DATABASE_URL": f"sqlite:///{workdir / 'veille.db'}",
        "VEILLE_ALLOW_PRIVATE_ADDRESSES": "1",
        "VEILLE_CONTACT_URL": "https://veille.test/bench",
        "VEILLE_LOG_LEVEL": "WARNING",
        "VEILLE_POLL_INTERVAL": f"{interval:g}s",
        # every feed polled every `interval`: adaptive intervals pinned to it
        "VEILLE_MIN_POLL_INTERVAL": f"{interval:g}s",
        "VEILLE_MAX_POLL_INTERVAL": f"{interval:g}s",
        **extra,
    })
    return env


def veille_cli(env: Mapping[str, str], workdir: Path, *args: str) -> str:
    done = subprocess.run([veille_binary(), *args], env=dict(env), cwd=workdir, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"veille {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def write_opml(path: Path, feeds: list[str]) -> None:
    outlines = "\n".join(
        f'<outline type="rss" text="farm {i}" xmlUrl={quoteattr(url)}/>' for i, url in enumerate(feeds)
    )
    path.write_text(f'<?xml version="1.0"?>\n<opml version="2.0"><head><title>farm</title></head><body>\n'
                    f"{outlines}\n</body></opml>\n")


def prepare_veille(workdir: Path, env: Mapping[str, str], feeds: list[str], channel: list[str]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    write_opml(workdir / "farm.opml", feeds)
    veille_cli(env, workdir, "feeds", "import", str(workdir / "farm.opml"))
    veille_cli(env, workdir, "track", "add", ENTITY)
    veille_cli(env, workdir, "channels", "add", *channel, "--name", "bench")


def db_counts(path: Path) -> dict[str, dict[str, int]]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        articles = dict(connection.execute("SELECT state, count(*) FROM articles GROUP BY state").fetchall())
        alerts = dict(connection.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())
    finally:
        connection.close()
    return {"articles": articles, "alerts": alerts}


def database_size(path: Path) -> tuple[int, int]:
    """(bytes after a WAL checkpoint, articles)."""
    connection = sqlite3.connect(str(path), timeout=30)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        articles = int(connection.execute("SELECT count(*) FROM articles").fetchone()[0])
    finally:
        connection.close()
    size = path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob(path.name + "-*"))
    return size, articles


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def fmt_run(run: probes.ProcessRun) -> str:
    return (f"{run.wall:6.2f} s wall, {run.user:5.2f} s user, {run.system:5.2f} s sys, "
            f"max RSS {run.max_rss_kb / 1024:5.0f} MB, exit {run.returncode}")


# --------------------------------------------------------------------------- phase 1: head to head


def head_to_head(options: Options, farm: FarmProcess, root: Path, report: Report) -> None:
    say(f"== head to head: {options.feeds} feeds x {options.items} items over {options.hosts} hosts, "
        f"{options.latency * 1000:.0f} ms per response ==")
    smtp = probes.SMTPSink()
    result: dict[str, Any] = {}
    try:
        # veille poll, twice, delivering by email to the sink
        work = root / "h2h-veille"
        env = veille_env(work, options.interval, VEILLE_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
                         VEILLE_EMAIL_FROM="veille@bench.invalid")
        prepare_veille(work, env, farm.feeds, ["email", "bench@example.org"])
        runs = []
        for label in ("first", "second"):
            before, mails = farm.stats(), smtp.count
            run = probes.timed_run([veille_binary(), "poll"], env=env, cwd=work, label=f"veille-poll-{label}")
            after = farm.stats()
            summary = run.output.strip().splitlines()[-1] if run.output.strip() else ""
            entry = {**asdict(run), "output": summary, "emails": smtp.count - mails,
                     "alerts_sent_total": db_counts(work / "veille.db")["alerts"].get("sent", 0),
                     "feeds": delta(after, before, "feed"), "pages": delta(after, before, "page")}
            runs.append(entry)
            say(f"veille poll ({label}):  {fmt_run(run)}; {entry['emails']} emails; {summary}")
            if run.returncode != 0:
                say(run.output[-3000:])
        result["veille"] = runs
        if options.peers:
            work = root / "h2h-r2e"
            config, data = peers.write_r2e_config(work, farm.feeds, smtp.port)
            runs = []
            for label in ("first", "second"):
                before, mails = farm.stats(), smtp.count
                run = probes.timed_run(peers.r2e_command(config, data), env=os.environ, cwd=work,
                                       label=f"r2e-{label}")
                after = farm.stats()
                entry = {**asdict(run), "output": run.output[-500:], "emails": smtp.count - mails,
                         "feeds": delta(after, before, "feed"), "pages": delta(after, before, "page")}
                runs.append(entry)
                say(f"r2e run ({label}):      {fmt_run(run)}; {entry['emails']} emails")
                if run.returncode != 0:
                    say(run.output[-3000:])
            result["r2e"] = runs
            work = root / "h2h-plain"
            work.mkdir(parents=True, exist_ok=True)
            feeds_file = work / "feeds.json"
            feeds_file.write_text(json.dumps(farm.feeds))
            runs = []
            for label in ("first", "second"):
                before = farm.stats()
                run = probes.timed_run(
                    [sys.executable, "-m", "veille.bench", "plain", str(feeds_file), str(work / "state.json")],
                    env=os.environ, cwd=work, label=f"plain-{label}",
                )
                after = farm.stats()
                entry = {**asdict(run), "output": run.output.strip()[-300:],
                         "feeds": delta(after, before, "feed"), "pages": delta(after, before, "page")}
                runs.append(entry)
                say(f"plain loop ({label}):   {fmt_run(run)}; {entry['pages']['requests']} pages")
            result["plain"] = runs
    finally:
        smtp.close()
    report.head_to_head = result
    veille_runs = result["veille"]
    for peer in ("r2e", "plain"):
        if peer in result:
            first = result[peer][0]["wall"] / veille_runs[0]["wall"]
            second = result[peer][1]["wall"] / veille_runs[1]["wall"]
            result[f"{peer}_ratio"] = {"first": first, "second": second}
            say(f"{peer} / veille wall clock: first {first:.2f}x, second {second:.2f}x")
    say()


# --------------------------------------------------------------------------- phase 2: the service


class Service:
    def __init__(self, env: Mapping[str, str], workdir: Path, concurrency: int) -> None:
        self.log = workdir / "service.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [veille_binary(), "run", "--concurrency", str(concurrency)], env=dict(env), cwd=workdir,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.started = time.time()

    def tree(self) -> list[int]:
        return probes.process_tree(self.process.pid)

    def cpu(self) -> float:
        return probes.cpu_seconds(self.tree())

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        return self.process.returncode

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def service_phases(options: Options, farm: FarmProcess, root: Path, report: Report) -> None:
    say(f"== the service: veille run --concurrency {options.concurrency}, Redis broker, SQLite, "
        f"feeds every {options.interval:g} s ==")
    work = root / "service"
    redis = probes.start_redis(root)
    hook = probes.WebhookReceiver()
    try:
        _service_phases(options, farm, work, redis, hook, report)
    finally:
        hook.close()
        redis.close()
    say()


def _service_phases(
    options: Options, farm: FarmProcess, work: Path, redis: probes.Redis, hook: probes.WebhookReceiver, report: Report
) -> None:
    env = veille_env(work, options.interval, VEILLE_BROKER_URL=redis.url)
    prepare_veille(work, env, farm.feeds, ["webhook", hook.url])
    db = work / "veille.db"
    result: dict[str, Any] = {}
    report.service = result
    farm.mark()
    service = Service(env, work, options.concurrency)
    try:
        # a. first poll
        expected = options.feeds * options.items
        before = farm.stats()
        cpu0, redis0 = service.cpu(), probes.cpu_seconds([redis.process.pid])

        def first_poll_done() -> bool:
            if service.process.poll() is not None:
                raise RuntimeError(f"veille run exited with {service.process.returncode}:\n{service.tail()}")
            counts = db_counts(db)
            articles, alerts = counts["articles"], counts["alerts"]
            unfinished = sum(v for k, v in articles.items() if k in ("new", "fetching", "fetched"))
            in_flight = sum(v for k, v in alerts.items() if k in ("pending", "sending"))
            return (sum(articles.values()) >= expected and unfinished == 0 and in_flight == 0
                    and len(hook.alerts()) >= alerts.get("sent", 0))

        finished = wait_until(first_poll_done, options.first_poll_timeout, step=0.5)
        done_at = time.time()
        stats = farm.stats()
        counts = db_counts(db)
        arrivals = hook.alerts()
        first_request = counter(stats, "feed")["first"] or service.started
        last = max((a.at for a in arrivals), default=done_at)
        articles = sum(counts["articles"].values())
        seconds = max(1e-9, last - first_request)
        first: dict[str, Any] = {
            "finished": finished,
            "articles": articles,
            "article_states": counts["articles"],
            "alerts_delivered": len(arrivals),
            "seconds_from_first_feed_request": seconds,
            "seconds_from_service_start": last - service.started,
            "articles_per_second": articles / seconds,
            "alerts_per_second": len(arrivals) / seconds,
            "cpu_seconds": service.cpu() - cpu0,
            "redis_cpu_seconds": probes.cpu_seconds([redis.process.pid]) - redis0,
            "farm": {"feed": delta(stats, before, "feed"), "page": delta(stats, before, "page")},
        }
        result["first_poll"] = first
        say(f"first poll: {articles} articles ({counts['articles']}), {len(arrivals)} alerts delivered in "
            f"{seconds:.1f} s from the first feed request ({last - service.started:.1f} s from start): "
            f"{first['articles_per_second']:.1f} articles/s"
            + ("" if finished else f" [NOT FINISHED after {options.first_poll_timeout:.0f} s]"))
        cpu = float(first["cpu_seconds"])
        say(f"  service CPU {cpu:.1f} s ({cpu / max(articles, 1) * 1000:.0f} ms per article), "
            f"Redis {first['redis_cpu_seconds']:.1f} s")
        memory_after_first = [asdict(m) for m in probes.memory(service.tree())]

        # b. steady state, feeds unchanged
        if options.steady > 0:
            before = farm.stats()
            cpu0, redis0 = service.cpu(), probes.cpu_seconds([redis.process.pid])
            started = time.monotonic()
            time.sleep(options.steady)
            elapsed = time.monotonic() - started
            after = farm.stats()
            cpu = service.cpu() - cpu0
            redis_cpu = probes.cpu_seconds([redis.process.pid]) - redis0
            feeds = delta(after, before, "feed")
            if feeds["requests"] == 0:
                result["steady"] = {"seconds": elapsed, "polls": 0, "cpu_seconds": cpu}
                say(f"steady state: no feed was polled in the {elapsed:.0f} s window; make --steady longer than "
                    f"--interval ({options.interval:g} s)")
            else:
                polls = feeds["requests"]
                steady: dict[str, Any] = {
                    "seconds": elapsed,
                    "polls": feeds["requests"],
                    "statuses": feeds["statuses"],
                    "pages": delta(after, before, "page")["requests"],
                    "polls_per_second": feeds["requests"] / elapsed,
                    "cpu_seconds": cpu,
                    "redis_cpu_seconds": redis_cpu,
                    "cpu_per_poll_ms": cpu / polls * 1000,
                    "cpu_per_poll_with_redis_ms": (cpu + redis_cpu) / polls * 1000,
                    "cpu_share": cpu / elapsed,
                    "bytes_per_poll": (feeds["bytes_in"] + feeds["bytes_out"]) / polls,
                    "bytes_in_per_poll": feeds["bytes_in"] / polls,
                    "bytes_out_per_poll": feeds["bytes_out"] / polls,
                }
                per_poll = (cpu + redis_cpu) / polls
                steady["projected_cores_10k_feeds_5min"] = per_poll * TARGET_FEEDS / TARGET_EVERY
                result["steady"] = steady
                say(f"steady state ({elapsed:.0f} s, feeds unchanged): {feeds['requests']} polls {feeds['statuses']}, "
                    f"{steady['polls_per_second']:.2f} polls/s; CPU {steady['cpu_per_poll_ms']:.1f} ms per poll "
                    f"({steady['cpu_per_poll_with_redis_ms']:.1f} ms with Redis), "
                    f"{steady['bytes_per_poll']:.0f} bytes per poll "
                    f"({steady['bytes_in_per_poll']:.0f} sent by veille, {steady['bytes_out_per_poll']:.0f} received)")
                say(f"  10,000 feeds every 5 min, extrapolated from CPU per poll: "
                    f"{steady['projected_cores_10k_feeds_5min']:.2f} cores")

        # c. latency from publication to delivered alert
        if options.publish > 0:
            rng = random.Random(7)
            feeds_chosen = rng.sample(range(options.feeds), min(options.publish, options.feeds))
            times = sorted(rng.uniform(0, options.publish_window) for _ in feeds_chosen)
            published: dict[str, float] = {}
            started = time.monotonic()
            for feed, at in zip(feeds_chosen, times, strict=True):
                time.sleep(max(0.0, started + at - time.monotonic()))
                item = farm.publish(feed)
                published[item["url"]] = item["published"]

            def arrived() -> dict[str, float]:
                found = {}
                for arrival in hook.alerts():
                    url = str(arrival.body.get("url"))
                    if url in published and url not in found:
                        found[url] = arrival.at
                return found

            # an alert later than interval + 10 s misses the target anyway
            wait_until(lambda: len(arrived()) == len(published), options.interval + 15, step=0.5)
            got = arrived()
            latencies = sorted(got[u] - published[u] for u in got)
            latency: dict[str, Any] = {"published": len(published), "delivered": len(got)}
            if latencies:
                latency.update({"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                                "max": latencies[-1], "mean": statistics.fmean(latencies)})
                say(f"latency, publication to delivered alert (feeds every {options.interval:g} s): "
                    f"p50 {latency['p50']:.1f} s, p95 {latency['p95']:.1f} s, max {latency['max']:.1f} s "
                    f"({len(got)} of {len(published)} delivered)")
            else:
                say(f"latency: none of the {len(published)} published items alerted")
            result["latency"] = latency

        # d. memory
        result["memory_after_first_poll"] = memory_after_first
        processes = probes.memory(service.tree())
        result["memory"] = [{**asdict(m), "role": "main" if m.pid == service.process.pid else "child"}
                            for m in processes]
        say("resident memory of the service's processes (main = Celery's main process, children = pool workers "
            "and the embedded beat):")
        for m in result["memory"]:
            say(f"  {m['role']:5} pid {m['pid']:<7} RSS {m['rss_mb']:6.1f} MB, peak {m['peak_mb']:6.1f} MB")
    finally:
        result["exit_code"] = service.stop()
    size, articles = database_size(db)
    result["database"] = {"bytes": size, "articles": articles,
                          "bytes_per_10k_articles": size / max(articles, 1) * 10_000}
    say(f"database: {size / 1e6:.1f} MB for {articles} articles: "
        f"{result['database']['bytes_per_10k_articles'] / 1e6:.0f} MB per 10,000 articles (SQLite, after checkpoint)")


# --------------------------------------------------------------------------- phase 3: the matcher


def matcher_phase(options: Options, report: Report) -> None:
    done = subprocess.run([sys.executable, "-m", "veille.matching.bench", str(options.entities)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "VEILLE_EVAL_DATA": str(options.data)})
    figures: dict[str, Any] = {"output": done.stdout.strip()}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        figures[key.strip()] = value.strip()
    ms = float(str(figures.get("match", "0 ms")).split()[0] or 0)
    if ms:
        figures["articles_per_second"] = 1000 / ms
    report.matcher = figures
    say(f"== matcher at {options.entities:,} entities ==")
    say(done.stdout.strip() or done.stderr.strip())
    if ms:
        say(f"=> {1000 / ms:,.0f} articles per second on one core")
    say()


# --------------------------------------------------------------------------- targets


def targets(options: Options, report: Report) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        rows.append({"target": name, "value": value, "goal": goal, "met": met})

    service = report.service
    if "first_poll" in service:
        value = service["first_poll"]["articles_per_second"]
        add("first poll, articles/s end to end", value, ">= 50", value >= 50)
    if service.get("steady", {}).get("projected_cores_10k_feeds_5min") is not None:
        value = service["steady"]["projected_cores_10k_feeds_5min"]
        add("10,000 feeds every 5 min (cores, extrapolated)", value, "<= 1.0 (half of 2 cores)", value <= 1.0)
    if service.get("latency", {}).get("p95") is not None:
        value = service["latency"]["p95"]
        goal = options.interval + 10
        add("p95 publication to alert (s)", value, f"<= {goal:g}", value <= goal)
    workers = service.get("memory", [])
    if workers:
        value = max(m["peak_mb"] for m in workers)
        add("peak resident memory per process (MB)", value, "<= 200", value <= 200)
    h2h = report.head_to_head
    if "r2e_ratio" in h2h:
        value = h2h["r2e_ratio"]["second"]
        add("second poll: r2e time / veille time", value, ">= 10", value >= 10)
        value = h2h["veille"][0]["wall"]
        goal_first = h2h["r2e"][0]["wall"]
        add("first poll: veille wall clock (s)", value, f"<= r2e's {goal_first:.1f}", value <= goal_first)
    return rows


def print_summary(report: Report) -> None:
    say("== targets ==")
    for row in report.targets:
        mark = {True: "MET", False: "NOT MET", None: "?"}[row["met"]]
        value = "n/a" if row["value"] is None else f"{row['value']:.2f}"
        say(f"  {mark:8} {row['target']}: {value} (goal {row['goal']})")


def run(options: Options) -> Report:
    options.data = options.data.resolve()
    if not (options.data / "extraction-benchmark" / "html").is_dir():
        raise SystemExit(f"bench: no extraction-benchmark/html in {options.data}: pass --data (make bench "
                         f"BENCH_DATA=...) pointing at the shared data folder")
    if options.peers:
        try:
            version = peers.check_r2e(os.environ)
        except RuntimeError as exc:
            raise SystemExit(f"bench: {exc}") from exc
    else:
        version = None
    report = Report(started=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine())
    report.options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}
    report.machine["rss2email"] = version
    began = time.monotonic()
    # `kill` (SIGTERM) unwinds like Ctrl-C, so the service, Redis and the farm are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    say(f"veille bench, {report.started}: {report.machine['nproc']} cores ({report.machine['cpu']}), "
        f"{report.machine['memory_gb']} GB, Python {report.machine['python']}")
    root = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    farm = FarmProcess(options, root)
    try:
        report.farm = {k: v for k, v in farm.description.items() if k != "feeds"}
        say(f"farm: {options.feeds} feeds x {options.items} items on {options.hosts} hosts "
            f"({report.farm['pages']} distinct article pages), {options.latency * 1000:.0f} ms per response; "
            f"work dir {root}")
        say()
        if options.head_to_head:
            head_to_head(options, farm, root, report)
        if options.service:
            service_phases(options, farm, root, report)
        if options.entities > 0:
            matcher_phase(options, report)
        report.farm["cpu_seconds"] = farm.cpu()
    finally:
        farm.close()
        if not options.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    report.targets = targets(options, report)
    report.seconds = time.monotonic() - began
    print_summary(report)
    say(f"bench took {report.seconds:.0f} s; the farm used {report.farm.get('cpu_seconds', 0):.1f} s of CPU")
    if options.json_out:
        options.json_out.write_text(json.dumps(asdict(report), indent=2, default=str))
        say(f"figures written to {options.json_out}")
    return report
