"""Pages: fetch and extract, then match."""

from __future__ import annotations

from tasks.common import context
from veille import pipeline
from worker.application import app


@app.task(acks_late=True)
def fetch_page(article_id: int) -> None:
    for ready in pipeline.fetch_pages(context(), [article_id]):
        match_article.delay(ready)


@app.task(acks_late=True)
def match_article(article_id: int) -> None:
    from tasks.alerts import deliver

    for alert_id in pipeline.match_articles(context(), [article_id]):
        deliver.delay(alert_id)
