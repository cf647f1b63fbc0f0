"""Schema fuzzing: schemathesis drives every operation of the OpenAPI document on both
engines, without and with a valid API key, with positive and negative (schema-violating)
data. Every answer must be no 5xx, a documented status, a documented content type and a
body that matches its documented schema.

Bounded and reproducible: hypothesis is derandomized (fixed seed) and each operation gets
``EXAMPLES`` cases per mode and key, about 1,300 requests per engine, in-process (ASGI).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable

from tests.api.cycle_fixtures import labeling_cycle, make_pool

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 12
# Operations left out with a key: connecting Label Studio makes the server call whatever
# URL the fuzzer writes (an outbound request per case); it is fuzzed without a key.
OUTBOUND = {("POST", "/api/v1/pools/{pool_id}/labelstudio")}
FIXED_QUERY = {"/healthz": {"wait": 0}}  # no 30-second waits for a worker that never comes


def _seed(sessions, settings) -> None:
    """A pool with images, one labeled and a labeling cycle, so small ids exist."""
    from alp.services import annotations
    from alp.storage import LocalStorage

    with sessions() as db:
        assert settings.storage_dir is not None
        pool_id, ids = make_pool(db, LocalStorage(settings.storage_dir), n=4)
        labeling_cycle(db, pool_id, ids[:2])
        annotations.put_annotation(db, ids[2], [{"x1": 1, "y1": 1, "x2": 9, "y2": 9,
                                                 "label": "cat"}])  # fmt: skip
        db.commit()


def _fuzz(schema, headers: dict[str, str], skip: set[tuple[str, str]]) -> tuple[int, list[str]]:
    calls, failures = 0, []
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in skip:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and op.path in FIXED_QUERY:
                continue  # its only input is fixed
            strategy = op.as_strategy(generation_mode=mode, query=FIXED_QUERY.get(op.path))

            @given(case=strategy)
            @hsettings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                if mode is not GenerationMode.NEGATIVE:
                    raise
                # no input to violate (e.g. GET /readyz): nothing negative to send
            except Exception as exc:  # collect every operation's failure, then report all
                failures.append(f"{op.method.upper()} {op.path} [{mode.value}]: {exc}")
    return calls, failures


def test_openapi_fuzz_no_5xx_and_responses_match_schema(app, api_key, sessions, settings):
    _seed(sessions, settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    anon_calls, anon_failures = _fuzz(schema, {}, set())
    key_calls, key_failures = _fuzz(schema, {"Authorization": f"Bearer {api_key}"}, OUTBOUND)
    failures = anon_failures + key_failures
    assert not failures, "\n\n".join(failures)
    assert anon_calls + key_calls > 1000  # the run really exercised the API
