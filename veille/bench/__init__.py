"""The performance bench: a generated news farm on loopback and a runner that measures veille against it.

    python -m veille.bench run --data ../shared/data          # what `make bench` runs
    python -m veille.bench farm --data ../shared/data          # the farm alone, until interrupted

See docs/performance.md for what is measured and the latest figures.
"""
