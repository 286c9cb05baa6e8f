"""Workers: the Celery app and the tasks that run ingestion, the job store that tracks it, submitting and re-queueing."""
