"""The WSGI application for gunicorn: `gunicorn --workers 4 docservice.wsgi:app`.

Each gunicorn worker imports this module and builds its own app and runtime from the
DOCSERVICE_* environment (see README.md, "Production").
"""

from __future__ import annotations

from docservice import create_app

app = create_app()
