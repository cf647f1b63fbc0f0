"""The OpenAPI document says what the server does: the error body, the constraints the
server enforces, and timezone-aware timestamps on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from alp.db import Job, Pool
from alp.schemas_limits import MAX_CLASSES
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import labeling_cycle, make_pool


def _spec(client) -> dict:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _param(op: dict, name: str) -> dict:
    return next(p for p in op["parameters"] if p["name"] == name)


def _schema(spec: dict, ref_or_schema: dict) -> dict:
    ref = ref_or_schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def test_every_operation_documents_the_error_body(client) -> None:
    spec = _spec(client)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Error"]["properties"]["detail"]["type"] == "string"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = op["responses"]
            assert "4XX" in codes, (method, path)
            for code, resp in codes.items():
                if code.startswith("4"):
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/Error"), (method, path, code)
            if "{" in path:
                assert "404" in codes, (method, path)


def test_a_422_body_matches_the_documented_error(client) -> None:
    r = client.post("/api/v1/pools", json={"name": "p", "classes": []})
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str) and set(r.json()) == {"detail"}


def test_constraints_are_in_the_schema(client) -> None:
    spec = _spec(client)
    paths = spec["paths"]
    thumb = paths["/api/v1/dashboard/selections/{selection_id}/thumbnail"]["get"]
    assert _schema(spec, _param(thumb, "size")["schema"])["enum"] == [128, 256, 512]
    webhook = paths["/api/v1/webhooks/label-studio"]["post"]
    assert _param(webhook, "pool_id")["required"] is True
    create = spec["components"]["schemas"]["PoolCreate"]["properties"]
    assert create["classes"]["minItems"] == 1 and create["classes"]["maxItems"] == MAX_CLASSES
    assert create["classes"]["items"]["maxLength"] == 200
    assert create["name"]["maxLength"] == 200
    overrides = spec["components"]["schemas"]["PoolSettings"]["properties"]["train_overrides"]
    iterations = overrides["properties"]["iterations"]["anyOf"][0]
    assert iterations["maximum"] == 1_000_000
    assert overrides["properties"]["epochs"]["anyOf"][0]["maximum"] == 10_000
    boxes = spec["components"]["schemas"]["AnnotationIn"]["properties"]["boxes"]
    assert boxes["maxItems"] == 10_000
    pools = paths["/api/v1/pools"]["get"]
    assert {"bearerAuth": []} in pools["security"]


def _aware_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.utcoffset() == timedelta(0), text
    return value


def test_timestamps_are_timezone_aware_on_both_engines(client) -> None:
    created = client.post("/api/v1/pools", json={"name": "t", "classes": ["a"]}).json()
    got = client.get(f"/api/v1/pools/{created['id']}").json()
    for body in (created, got):
        _aware_utc(body["created_at"])
        _aware_utc(body["updated_at"])
    assert _aware_utc(got["created_at"]) == _aware_utc(created["created_at"])


def test_datetime_column_stores_utc_and_reads_back_aware(db) -> None:
    plus2 = timezone(timedelta(hours=2))
    pool = Pool(
        name="z", classes=["a"], settings={}, created_at=datetime(2030, 1, 1, 12, tzinfo=plus2)
    )
    pool.updated_at = datetime(2030, 1, 1, 12)  # naive: taken as UTC
    db.add(pool)
    db.commit()
    db.expire_all()
    row = db.get(Pool, pool.id)
    assert row.created_at == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert row.updated_at == datetime(2030, 1, 1, 12, tzinfo=UTC)


def _timestamps(body: object) -> list[str]:
    """Every non-null ``*_at`` value anywhere in a JSON body."""
    if isinstance(body, list):
        return [t for item in body for t in _timestamps(item)]
    if not isinstance(body, dict):
        return []
    own = [v for k, v in body.items() if k.endswith("_at") and isinstance(v, str)]
    return own + [t for v in body.values() for t in _timestamps(v)]


def test_image_annotation_cycle_and_job_timestamps_are_aware(client, db, settings) -> None:
    pid, ids = make_pool(db, LocalStorage(settings.storage_dir))
    cid = labeling_cycle(db, pid, ids[:2])
    now = datetime.now(UTC)
    for job in db.scalars(select(Job).where(Job.cycle_id == cid)):
        job.started_at = job.finished_at = job.heartbeat_at = now
    db.commit()
    assert client.put(f"/api/v1/images/{ids[0]}/annotation", json={"boxes": []}).is_success
    cycle = client.get(f"/api/v1/cycles/{cid}").json()
    bodies = [client.get(f"/api/v1/images/{ids[0]}").json(), cycle,
              client.get(f"/api/v1/images/{ids[0]}/annotation").json(),
              client.get(f"/api/v1/pools/{pid}/images").json(),
              client.get(f"/api/v1/pools/{pid}/cycles").json(),
              client.get(f"/api/v1/jobs/{cycle['jobs'][0]['id']}").json()]  # fmt: skip
    stamps = _timestamps(bodies)
    assert len(stamps) >= 12, bodies
    for text in stamps:
        _aware_utc(text)


def test_security_schemes_and_keyed_routes_carry_security(client) -> None:
    """``require_key`` reads credentials through HTTPBearer / APIKeyCookie, so the schemes
    and every keyed operation's ``security`` come from FastAPI; public routes have none."""
    from api import access

    spec = _spec(client)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "An API key.",
    }  # fmt: skip
    assert schemes["sessionCookie"]["type"] == "apiKey"
    assert (schemes["sessionCookie"]["in"], schemes["sessionCookie"]["name"]) == (
        "cookie", "alp_session",
    )  # fmt: skip
    either = [{"bearerAuth": []}, {"sessionCookie": []}]
    seen = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            group = access.group_of(f"{method.upper()} {path}")
            if path == "/api/v1/images/{image_id}/content":
                assert op["security"] == [*either, {}]  # a key, or a signed URL
            elif group == access.PUBLIC:
                assert "security" not in op, (method, path)
            else:
                assert op["security"] == either, (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)
                seen += 1
    assert seen > 40


def test_missing_and_malformed_bearer_keep_our_401(anon_client) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer   "}):
        r = anon_client.get("/api/v1/pools", headers=headers)
        assert r.status_code == 401, headers
        assert set(r.json()) == {"detail"} and r.headers["www-authenticate"] == "Bearer"
