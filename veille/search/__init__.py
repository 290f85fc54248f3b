"""Searches of the web's news for tracked entities: the providers (GDELT, Hacker News, Google News) behind one
interface (:mod:`veille.search.base`), and what the poller does with a search source (:mod:`veille.search.poll`).
The sources themselves are made by :mod:`veille.manage.searches`."""
