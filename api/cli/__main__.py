"""`python -m api.cli`."""

from api.cli import app

app()
