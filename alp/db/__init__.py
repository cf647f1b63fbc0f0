"""Database: declarative base, engine/session factories and the tables."""

from alp.db.base import Base, make_engine, make_sessionmaker, utcnow
from alp.db.tables import (
    Annotation,
    AnnotationRevision,
    Cycle,
    Image,
    LabelStudioConnection,
    Pool,
    Prediction,
    Selection,
)
from alp.db.tables_access import ApiKey, AuditEvent
from alp.db.tables_work import Backtest, Job, ScoreShard, WorkerHeartbeat

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
