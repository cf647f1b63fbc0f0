"""alp core: configuration, database tables, schemas, services, storage, jobs and the
Label Studio client. Never imports torch."""

__version__ = "0.1.0"
