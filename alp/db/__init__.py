"""Database: declarative base, engine/session factories and the tables."""

from alp.db.base import Base, make_engine, make_sessionmaker, utcnow
from alp.db.tables import (
    Annotation,
    AnnotationRevision,
    ApiKey,
    AuditEvent,
    Backtest,
    Cycle,
    Image,
    Job,
    LabelStudioConnection,
    Pool,
    Prediction,
    ScoreShard,
    Selection,
    WorkerHeartbeat,
)

__all__ = [
    "Annotation",
    "AnnotationRevision",
    "ApiKey",
    "AuditEvent",
    "Backtest",
    "Base",
    "Cycle",
    "Image",
    "Job",
    "LabelStudioConnection",
    "Pool",
    "Prediction",
    "ScoreShard",
    "Selection",
    "WorkerHeartbeat",
    "make_engine",
    "make_sessionmaker",
    "utcnow",
]
