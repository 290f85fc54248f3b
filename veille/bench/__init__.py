"""The performance bench: a generated news farm on loopback and a runner that measures veille against it.

    python -m veille.bench run --data ../shared/data          # what `make bench` runs
    python -m veille.bench farm --data ../shared/data          # the farm alone, until interrupted
    python -m veille.bench pages                               # the web page at scale (also in `make bench`)
    python -m veille.bench.screenshots                         # `make screenshots`

See docs/performance.md for what is measured and the latest figures.
"""
