"""FastAPI application: routes, dependencies and the dashboard. Never imports torch,
models, acquisition or worker; long work is enqueued by task NAME (``alp.jobs``)."""
