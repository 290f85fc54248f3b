"""Benchmark: `python -m veille.matching.bench [entities] [article KB]`.

Builds a Matcher for `entities` entities (10,000 by default): some real names of labs, companies and
people with aliases, exact aliases and context words, the rest synthetic (names, aliases, excludes,
context words, a few queries). Then matches:

- a synthetic French article of `article KB` (10 by default) that names one entity in twenty;
- the 181 article bodies of the extraction benchmark in the evaluation data (`VEILLE_EVAL_DATA`,
  default `<repo>/../shared/data`), when it is there.

Prints the build time, the time per article and the throughput in MB of UTF-8 text per second of
CPU time on one core (the best of several runs; CPU time, so that what else runs on the machine
weighs little). The last line is the lower of the two throughputs.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from veille.matching.matcher import EntitySpec, Matcher

_SYLLABLES = (
    "ka", "lu", "mi", "to", "ra", "ne", "so", "vi", "da", "pe", "zo", "ri", "ma", "ku",
    "le", "fa", "no", "ti", "be", "gu", "ja", "lo", "se", "wa", "bro", "tel", "vin",
)  # fmt: skip
_FILLER = (
    "Le laboratoire parisien a présenté mardi un nouveau modèle de langage, entraîné sur des données "
    "publiques et publié sous licence ouverte. Selon ses dirigeants, l’objectif est de rattraper les "
    "grands acteurs américains sans sacrifier la transparence ; les investisseurs, eux, attendent "
    "surtout des revenus. « Nous avons besoin de calcul », résume une chercheuse de l’équipe. "
)
# Real names, so that the benchmark bodies (English and other news) have hits, vetoes and snippets.
_REAL = (
    EntitySpec(-1, "OpenAI", aliases=("ChatGPT",)),
    EntitySpec(-2, "Google", aliases=("Alphabet",)),
    EntitySpec(-3, "Meta Platforms", aliases=("Facebook",), exact_aliases=("Meta",)),
    EntitySpec(-4, "Apple", require=("iPhone", "Mac", "Tim Cook", "company", "shares")),
    EntitySpec(-5, "Microsoft"),
    EntitySpec(-6, "Amazon", excludes=("rainforest", "river")),
    EntitySpec(-7, "Twitter"),
    EntitySpec(-8, "Tesla", aliases=("Elon Musk",)),
    EntitySpec(-9, "Netflix"),
    EntitySpec(-10, "Samsung"),
    EntitySpec(-11, "Intel", exact=True),
    EntitySpec(-12, "NVIDIA"),
    EntitySpec(-13, "Uber"),
    EntitySpec(-14, "Huawei"),
    EntitySpec(-15, "Donald Trump", aliases=("Trump",), min_mentions=2),
    EntitySpec(-16, "European Union", aliases=("EU",), in_title=True),
    EntitySpec(-17, "Mistral AI", aliases=("Mistral",), require=("AI", "IA", "LLM", "model", "modèle")),
    EntitySpec(-18, "Kyutai"),
    EntitySpec(-19, "Yann LeCun"),
    EntitySpec(-20, "Boeing", query='Boeing OR "737 Max" -football'),
)


def _name(rng: random.Random) -> str:
    words = [
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize() for _ in range(rng.randint(1, 3))
    ]
    return " ".join(words)


def entities(count: int, seed: int = 7) -> list[EntitySpec]:
    """Synthetic entities, deterministic for a seed."""
    rng = random.Random(seed)
    specs = []
    for i in range(count):
        name = _name(rng)
        if i % 50 == 0:
            specs.append(EntitySpec(i, name, query=f'"{name}" OR ({_name(rng)} (IA OR LLM)) -crypto'))
            continue
        specs.append(
            EntitySpec(
                i,
                name,
                aliases=tuple(_name(rng) for _ in range(rng.randint(0, 2))),
                excludes=("football",) if i % 7 == 0 else (),
                require=("IA", "modèle") if i % 5 == 0 else (),
            )
        )
    return specs


def article(specs: list[EntitySpec], size: int, seed: int = 7) -> str:
    """About `size` characters of prose that names one entity in twenty."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < size:
        part = _FILLER if rng.random() < 0.8 else f"{rng.choice(specs[::20]).name} a réagi. "
        parts.append(part)
        length += len(part)
    return "".join(parts)[:size]


def benchmark_bodies(data: Path | None = None) -> list[str]:
    """The article bodies of the extraction benchmark, or [] when the evaluation data is absent."""
    data = data or Path(os.environ.get("VEILLE_EVAL_DATA") or Path(__file__).parents[2].parent / "shared" / "data")
    truth = data / "extraction-benchmark" / "ground-truth.json"
    if not truth.is_file():
        return []
    pages = json.loads(truth.read_text(encoding="utf-8"))
    return [page["articleBody"] for page in pages.values() if page.get("articleBody")]


def _best(work: Callable[[], object], repeats: int = 5, seconds: float = 0.3) -> float:
    """The best CPU time of one call of `work` over `repeats` runs of about `seconds` each. CPU time,
    not wall time: the figure is per core, and does not depend on what else the machine runs."""
    started = time.process_time()
    work()
    rounds = max(1, int(seconds / max(time.process_time() - started, 1e-6)))
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(rounds):
            work()
        best = min(best, (time.process_time() - started) / rounds)
    return best


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 10_000
    size = int(argv[1]) * 1024 if len(argv) > 1 else 10 * 1024
    real = list(_REAL[: min(len(_REAL), count // 10)])
    specs = real + entities(count - len(real))
    started = time.process_time()
    matcher = Matcher(specs)
    built = time.process_time() - started
    print(f"entities:    {count:,} ({len(real)} real names with their options, the rest synthetic)")
    print(f"build:       {built:.2f} s of CPU time")

    synthetic = specs[len(real) :]
    text = article(synthetic, size)
    title = f"{synthetic[0].name} et {synthetic[20].name} lèvent des fonds"
    report = matcher.match(title=title, text=text)
    per_article = _best(lambda: matcher.match(title=title, text=text))
    megabytes = len((title + text).encode("utf-8")) / 1e6
    rates = [megabytes / per_article]
    print(
        f"article:     synthetic, {len(text):,} characters, {len(report.matches)} matches, {len(report.vetoed)} vetoed"
    )
    print(f"match:       {per_article * 1000:.2f} ms per article, {rates[0]:.1f} MB/s")

    bodies = benchmark_bodies()
    if bodies:
        reports = [matcher.match(title="", text=body) for body in bodies]
        elapsed = _best(lambda: [matcher.match(title="", text=body) for body in bodies], repeats=3, seconds=1.0)
        megabytes = sum(len(body.encode("utf-8")) for body in bodies) / 1e6
        rates.append(megabytes / elapsed)
        print(
            f"bodies:      {len(bodies)} extraction-benchmark bodies, {megabytes:.2f} MB, "
            f"{sum(len(r.matches) for r in reports)} matches, {sum(len(r.vetoed) for r in reports)} vetoed"
        )
        print(f"match:       {elapsed / len(bodies) * 1000:.2f} ms per article, {rates[1]:.1f} MB/s")
    else:
        print("bodies:      evaluation data not found (set VEILLE_EVAL_DATA), synthetic article only")
    print(f"throughput:  {min(rates):.1f} MB/s")


if __name__ == "__main__":
    main(sys.argv[1:])
