"""Benchmark: `python -m veille.matching.bench [entities] [article KB]`.

Builds a Matcher for synthetic entities (names, aliases, excludes, context words, a few queries)
and matches a synthetic French article that mentions some of them; prints the build time, the
time per article and the throughput.
"""

from __future__ import annotations

import random
import sys
import time

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


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 10_000
    size = int(argv[1]) * 1024 if len(argv) > 1 else 10 * 1024
    specs = entities(count)
    started = time.perf_counter()
    matcher = Matcher(specs)
    built = time.perf_counter() - started
    text = article(specs, size)
    title = f"{specs[0].name} et {specs[20].name} lèvent des fonds"
    matcher.match(title=title, text=text)  # warm the folding caches
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        report = matcher.match(title=title, text=text)
    per_article = (time.perf_counter() - started) / rounds
    megabytes = len((title + text).encode("utf-8")) / 1e6
    print(f"entities:    {count:,}")
    print(f"build:       {built:.2f} s")
    print(f"article:     {len(text):,} characters")
    print(f"found:       {len(report.matches)} matches, {len(report.vetoed)} vetoed")
    print(f"match:       {per_article * 1000:.2f} ms per article")
    print(f"throughput:  {megabytes / per_article:.1f} MB/s")


if __name__ == "__main__":
    main(sys.argv[1:])
