"""A user's memory as JSON Lines (docs/export.md): ``memfuse-server export`` and
``GET /api/v1/users/{uid}/export``.

``lines`` makes the lines from the store a page at a time (the route streams them);
``command`` writes them to a file with a progress bar. ``memfuse-server import`` reads them
back (``importer/memfuse.py``).
"""
