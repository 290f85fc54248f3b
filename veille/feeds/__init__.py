"""Feeds: fetching with conditional GET, parsing, scheduling, OPML."""
