"""Prometheus exposition computed from the database at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Job


def render(db: Session) -> bytes:
    reg = CollectorRegistry()
    images = Gauge("alp_images", "Images by pool and state", ["pool_id", "state"], registry=reg)
    for pid, st, n in db.execute(
        select(Image.pool_id, Image.state, func.count()).group_by(Image.pool_id, Image.state)
    ):
        images.labels(str(pid), st).set(n)
    cycles = Gauge("alp_cycles", "Cycles by state", ["state"], registry=reg)
    for st, n in db.execute(select(Cycle.state, func.count()).group_by(Cycle.state)):
        cycles.labels(st).set(n)
    jobs = Gauge("alp_jobs", "Jobs by kind and state", ["kind", "state"], registry=reg)
    for kind, st, n in db.execute(
        select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)
    ):
        jobs.labels(kind, st).set(n)
    return generate_latest(reg)
