"""The test app as a WSGI module for gunicorn: ``gunicorn tests.wsgi:app``."""

from tests.apps import create_app

app = create_app("threading")
