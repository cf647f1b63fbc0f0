"""Status dashboard served by the API process: HTML pages at ``/`` (session sign-in),
the JSON they poll under ``/api/v1/dashboard`` and static assets under ``/static``.

Kept import-free so ``api.deps`` can import ``api.dashboard.session`` without a cycle.
"""
