"""The WebSub callback's two operations, for the web server: a hub's verification of intent and its pushes.

Both live in :mod:`veille.websub` (the protocol); they are named here so that the web face calls the
operations layer only. :func:`receive` parses the pushed feed with feedparser and lxml: call it from one
thread at a time (the web server runs it on its single parsing thread)."""

from veille.websub.push import PushResult, receive
from veille.websub.subscriptions import Answer, verify

__all__ = ["Answer", "PushResult", "receive", "verify"]
