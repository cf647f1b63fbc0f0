"""Prometheus exposition computed at scrape time: database counts (the API's ``/metrics``)
and broker queue depths (the API's ``/metrics`` and the workers' metrics port)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from celery import Celery
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Job
from alp.jobs import QUEUES

log = logging.getLogger("alp.metrics")
BROKER_TIMEOUT_S = 2.0


def render(db: Session, celery: Celery | None = None) -> bytes:
    """The API's metrics: images, cycles and jobs by state; with ``celery``, queue depths."""
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
    if celery is not None:
        reg.register(QueueDepthCollector(celery))
    return generate_latest(reg)


def queue_depths(celery: Celery) -> dict[str, int] | None:
    """Messages waiting (not yet taken by a worker) in each queue of ``alp.jobs.QUEUES``;
    None when the broker cannot be reached within ``BROKER_TIMEOUT_S``.

    Asks the broker through kombu, so it is exact for both brokers alp supports: Redis
    (``LLEN`` of the queue's lists, one per priority step) and the embedded SQLite broker
    (a ``COUNT`` of the queue's visible message rows). Messages a worker has reserved are
    not counted (they are being worked on).
    """
    options: dict[str, object] = {}
    if str(celery.conf.broker_url).startswith(("redis://", "rediss://")):
        options = {
            "socket_connect_timeout": BROKER_TIMEOUT_S,
            "socket_timeout": BROKER_TIMEOUT_S,
        }
    try:
        with celery.connection_for_read(transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
            channel = conn.default_channel
            # queue_declare (not passive) so an empty Redis queue (no list key) reads 0;
            # declaring an existing queue changes nothing.
            return {q: int(channel.queue_declare(q).message_count) for q in QUEUES}
    except Exception as exc:  # broker down, refused, timed out: the scrape still answers
        log.warning("queue depths unavailable: %s", exc)
        return None


class QueueDepthCollector(Collector):
    """``alp_queue_depth{queue}`` and ``alp_broker_up`` (1/0), read at every scrape."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depths = queue_depths(self.celery)
        up = GaugeMetricFamily("alp_broker_up", "Whether the broker answered this scrape")
        up.add_metric([], 0 if depths is None else 1)
        yield up
        if depths is None:
            return
        gauge = GaugeMetricFamily(
            "alp_queue_depth", "Messages waiting in a broker queue", labels=["queue"]
        )
        for queue, n in depths.items():
            gauge.add_metric([queue], n)
        yield gauge
