"""Workers: the Celery app and tasks that run ingestion, the job store that tracks it, and the runtime wiring."""
