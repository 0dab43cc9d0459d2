"""The REST API under schemathesis: generated requests, well formed and not, to a real server on loopback.

Every operation of /api/v1/openapi.json gets a bounded number of requests as an administrator with an API
token that holds every permission. The server must never answer 5xx, and must refuse every request the
spec forbids. Operations that reach outside the machine (network scans, a camera's stream) or never end
(live streams) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection

from conftest import Factory, serve
from safecity.auth import tokens
from safecity.auth.permissions import BY_NAME
from safecity.config import Settings

# Never fuzzed: what would reach past this machine, or streams that stay open.
LEFT_OUT = {
    ("POST", "/api/v1/cameras/discover"): "scans networks for ONVIF cameras",
    ("POST", "/api/v1/cameras/{camera_id}/compliance"): "opens the camera's stream",
    ("GET", "/api/v1/events/stream"): "a live stream",
    ("GET", "/api/v1/alerts/stream"): "a live stream",
    ("GET", "/api/v1/cameras/{camera_id}/live.mjpeg"): "a live stream",
    ("GET", "/api/v1/incidents/stream"): "a live stream",
}
EXAMPLES = 12  # per operation and mode: bounded, so the whole run is too
CHECKS = [not_a_server_error, negative_data_rejection]
# What counts as refusing an invalid request: schemathesis' own list, plus 413 (a body over the size limit
# is refused before it is read, whatever it holds). A 5xx is caught by not_a_server_error.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]


@pytest.fixture
def api(
    db_url: str, tmp_path: Path, settings: Settings
) -> Iterator[tuple[schemathesis.BaseSchema, str, str]]:
    """The spec, the base URL of a real server on its own database, and a token of an all-powerful user."""
    with serve(settings, db_url, tmp_path) as app:
        with app.services.session_factory() as session:
            factory = Factory(session, app.services.mfa_box)
            factory.district()
            roles = ("admin", "supervisor", "operator", "dispatcher", "investigator", "auditor")
            user = factory.user(*roles, mfa=False)
            principal = factory.principal(user)
            wanted = sorted(p for p in BY_NAME if p in principal.permissions)
            _, secret = tokens.create(session=session, actor=principal, name="fuzz", permissions=wanted)
            session.commit()
        config = schemathesis.Config.from_dict(
            {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
        )
        schema = schemathesis.openapi.from_url(f"{app.base}/api/v1/openapi.json", config=config)
        yield schema, app.base, secret


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, base: str, secret: str) -> str | None:
    """The first failure of `EXAMPLES` generated requests of `mode`, or None."""
    failure: list[str] = []

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        if failure:
            return
        try:
            case.call_and_validate(
                base_url=base, headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS, timeout=30
            )
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # a check's failures, with the request that caused them
            # Cut short: a generated body can be a megabyte.
            request = case.as_curl_command()[:1500]
            failure.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}\n  {request}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (an operation without parameters)
        assert mode is GenerationMode.NEGATIVE
    return failure[0] if failure else None


@pytest.mark.timeout(900)  # EXAMPLES for every operation: 4-5 min beside another worker, over the usual 300 s
def test_no_generated_request_makes_a_server_error_or_is_wrongly_accepted(
    api: tuple[schemathesis.BaseSchema, str, str],
) -> None:
    schema, base, secret = api
    operations = [result.ok() for result in schema.get_all_operations()]
    # Checked before any request: a renamed network scan must not slip into the fuzzing.
    assert set(LEFT_OUT) <= {(op.method.upper(), op.path) for op in operations}
    fuzzed = [op for op in operations if (op.method.upper(), op.path) not in LEFT_OUT]
    assert len(fuzzed) >= 90, "the spec lost its operations"
    failures = []
    for operation in fuzzed:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if (found := _fuzz(operation, mode, base, secret)) is not None:
                failures.append(found)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
