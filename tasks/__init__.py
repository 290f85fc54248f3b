"""Celery tasks, thin: ids in, the work in veille.pipeline, the next step enqueued."""
