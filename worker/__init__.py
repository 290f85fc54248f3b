"""The Celery app: `celery -A worker worker` and `celery -A worker beat` use it, as does `veille run`."""

from worker.application import app

__all__ = ["app"]
