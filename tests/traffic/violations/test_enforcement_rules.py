"""Enforcement rules through the API and the page: what each offence must be built on, district scope,
audited changes, the helmet plugin slot, and the page that lists rules and signals with their states.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from violation_world import CARS, OFFICER, T0, camera, draw

from conftest import Factory
from safecity.audit.models import AuditEntry
from safecity.auth.principal import Principal
from safecity.core.errors import InvalidInput
from safecity.traffic import service as traffic
from safecity.traffic.models import Section
from safecity.traffic.schemas import CalibrationIn
from safecity.traffic.violations import service as violations
from safecity.traffic.violations.models import EnforcementRule, SignalLight, SignalSource
from safecity.traffic.violations.schemas import EnforcementRuleIn, SignalIn

ENGINEER = Principal(
    None,
    "engineer",
    frozenset({"cameras.read", "analytics.manage", "traffic.manage", "traffic.read"}),
    None,
    via="system",
)
RULES = "/api/v1/traffic/enforcement-rules"


def test_rules_are_built_on_the_right_drawings_and_changes_are_audited(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    a, b = factory.district(), factory.district()
    cam, other = camera(session, a.id), camera(session, a.id)
    line = draw(
        session,
        cam.id,
        {"kind": "line_crossing", "name": "Stop line", "line": [[0, 0.5], [1, 0.5]], "classes": CARS},
    )
    walkers = draw(session, cam.id, {"kind": "line_crossing", "name": "Zebra", "line": [[0, 0.8], [1, 0.8]]})
    zone = draw(
        session,
        cam.id,
        {
            "kind": "stopped_vehicle",
            "name": "Bus stop",
            "zone": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]],
            "dwell_s": 60,
        },
    )
    elsewhere = draw(
        session,
        other.id,
        {"kind": "line_crossing", "name": "Stop", "line": [[0, 0.5], [1, 0.5]], "classes": CARS},
    )
    counting = [
        draw(session, cam.id, {"kind": "counting_line", "name": n, "line": [[x, 0], [x, 1]]})
        for n, x in (("A", 0.2), ("B", 0.8))
    ]
    calibration = traffic.calibrate(
        session=session,
        principal=ENGINEER,
        camera_id=cam.id,
        data=CalibrationIn(line_a_id=counting[0], line_b_id=counting[1], distance_m=25),
    )
    signal = violations.create_signal(
        session=session,
        principal=OFFICER,
        data=SignalIn(name="Chowk signal", source=SignalSource.CONTROLLER, district_id=a.id),
    )
    far_signal = violations.create_signal(
        session=session,
        principal=OFFICER,
        data=SignalIn(name="Far signal", source=SignalSource.CONTROLLER, district_id=b.id),
    )
    officer = login_as(factory.user("traffic_officer", districts=[a]))

    def create(**body: object) -> tuple[int, dict[str, object]]:
        response = officer.post(RULES, json={"name": "Rule", "camera_id": str(cam.id), **body})
        return response.status_code, response.json()

    def refused(code: str, **body: object) -> None:
        status, answer = create(**body)
        assert status == 422 and answer["error"]["code"] == code, answer

    refused("wrong_rule_kind", offence="red_light", analytics_rule_id=str(zone), signal_id=str(signal.id))
    refused(
        "rule_not_on_camera", offence="red_light", analytics_rule_id=str(elsewhere), signal_id=str(signal.id)
    )
    refused(
        "rule_sees_no_vehicles", offence="red_light", analytics_rule_id=str(walkers), signal_id=str(signal.id)
    )
    refused("no_signal", offence="red_light", analytics_rule_id=str(line))
    refused("no_signal", offence="red_light", analytics_rule_id=str(line), signal_id=str(far_signal.id))
    refused("bad_reference", offence="wrong_way", analytics_rule_id=str(line), signal_id=str(signal.id))
    refused("no_measurement", offence="over_speed")
    refused("no_limit", offence="over_speed", calibration_id=str(calibration.id))
    refused("bad_params", offence="over_speed", calibration_id=str(calibration.id), params={"limit_kmh": -5})
    refused(
        "bad_params",
        offence="red_light",
        analytics_rule_id=str(line),
        signal_id=str(signal.id),
        params={"x": 1},
    )
    status, answer = create(offence="no_helmet")
    assert status == 422 and answer["error"]["code"] == "no_helmet_detector"
    assert "no helmet detector is installed" in str(answer["error"]["message"])

    status, red = create(
        offence="red_light", analytics_rule_id=str(line), signal_id=str(signal.id), name="Chowk red light"
    )
    assert status == 201, red
    assert (
        red["analytics_rule_name"] == "Stop line"
        and red["signal_name"] == "Chowk signal"
        and red["enabled"] is True
    )
    assert create(offence="red_light", analytics_rule_id=str(line), signal_id=str(signal.id))[0] == 409
    status, speed = create(
        offence="over_speed", calibration_id=str(calibration.id), params={"limit_kmh": 60, "tolerance_kmh": 4}
    )
    assert status == 201 and speed["params"] == {"limit_kmh": 60.0, "tolerance_kmh": 4.0}
    status, parking = create(offence="no_parking", analytics_rule_id=str(zone))
    assert status == 201

    listed = officer.get(RULES, params={"camera_id": str(cam.id)}).json()
    assert {r["offence"] for r in listed} == {"red_light", "over_speed", "no_parking"}
    changed = officer.patch(f"{RULES}/{red['id']}", json={"enabled": False, "params": {"min_red_s": 0.5}})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.json()["params"] == {"min_red_s": 0.5}
    # A signal a rule uses stays until the rule goes.
    assert officer.delete(f"/api/v1/traffic/signals/{signal.id}").json()["error"]["code"] == "signal_in_use"
    assert officer.delete(f"{RULES}/{parking['id']}").status_code == 204
    assert officer.get(f"{RULES}/{parking['id']}").status_code == 404
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.action.like("traffic.enforcement_rule.%"))
        .order_by(AuditEntry.seq)
    ).all()
    assert actions == [
        "traffic.enforcement_rule.create",
        "traffic.enforcement_rule.create",
        "traffic.enforcement_rule.create",
        "traffic.enforcement_rule.update",
        "traffic.enforcement_rule.delete",
    ]

    # District scope: district B's officer sees none of A's rules; an operator reads but cannot change.
    stranger = login_as(factory.user("traffic_officer", districts=[b]))
    assert stranger.get(RULES).json() == []
    assert stranger.get(f"{RULES}/{red['id']}").status_code == 404
    assert stranger.patch(f"{RULES}/{red['id']}", json={"enabled": True}).status_code == 404
    operator = login_as(factory.user("operator", districts=[a]))
    assert len(operator.get(RULES).json()) == 2
    assert operator.patch(f"{RULES}/{red['id']}", json={"enabled": True}).status_code == 403
    # A reviewer without traffic.read still sees the rules of the violations they review.
    reviewer = Principal(None, "reviewer", frozenset({"challans.review"}), frozenset({a.id}))
    assert len(violations.list_rules(session=session, principal=reviewer)) == 2


def test_a_section_rule_is_on_the_exit_camera(factory: Factory, session: Session) -> None:
    district = factory.district()
    entry, exit_ = camera(session, district.id), camera(session, district.id)
    section = Section(
        name=f"S {uuid.uuid4().hex[:4]}",
        district_id=district.id,
        camera_a_id=entry.id,
        camera_b_id=exit_.id,
        distance_m=900,
        speed_limit_kmh=80,
        max_travel_s=300,
    )
    session.add(section)
    session.flush()
    data = {"name": "Average speed", "offence": "over_speed", "section_id": section.id}
    try:
        violations.create_rule(
            session=session, principal=OFFICER, data=EnforcementRuleIn(camera_id=entry.id, **data)
        )
    except InvalidInput as exc:
        assert exc.code == "section_elsewhere"
    else:
        raise AssertionError("a section rule on the entry camera was accepted")
    rule = violations.create_rule(
        session=session, principal=OFFICER, data=EnforcementRuleIn(camera_id=exit_.id, **data)
    )
    assert session.get_one(EnforcementRule, rule.id).params == {"tolerance_kmh": 0.0}


def test_the_enforcement_page_lists_rules_and_signal_states_and_its_forms_work(
    factory: Factory, session: Session, login_as: Callable[..., TestClient]
) -> None:
    district = factory.district()
    cam = camera(session, district.id, "<b>Saddar</b> Chowk")
    line = draw(
        session,
        cam.id,
        {"kind": "line_crossing", "name": "Stop <i>line</i>", "line": [[0, 0.5], [1, 0.5]], "classes": CARS},
    )
    signal = violations.create_signal(
        session=session,
        principal=OFFICER,
        data=SignalIn(
            name="<script>alert(1)</script>", source=SignalSource.CONTROLLER, district_id=district.id
        ),
    )
    violations.record_state(session=session, signal_id=signal.id, light=SignalLight.RED, at=T0, source="mqtt")
    officer = login_as(factory.user("traffic_officer", districts=[district]))
    assert 'href="/traffic/enforcement"' in officer.get("/traffic").text
    page = officer.get("/traffic/enforcement")
    assert page.status_code == 200
    assert (
        "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    )
    assert "<b>Saddar</b>" not in page.text and "Stop &lt;i&gt;line&lt;/i&gt;" in page.text
    assert re.search(r'data-testid="signal-light">red<', page.text)
    assert 'style="' not in page.text and "<script>" not in page.text.split("</head>", 1)[1]

    added = officer.post(
        "/traffic/enforcement/rules",
        data={
            "name": "Saddar red light",
            "camera_id": str(cam.id),
            "offence": "red_light",
            "analytics_rule_id": str(line),
            "signal_id": str(signal.id),
            "min_red_s": "0.3",
        },
    )
    assert added.status_code == 204 and added.headers["HX-Redirect"] == "/traffic/enforcement", added.text
    rule = session.scalars(select(EnforcementRule).where(EnforcementRule.camera_id == cam.id)).one()
    assert rule.params == {"min_red_s": 0.3}
    helmet = officer.post(
        "/traffic/enforcement/rules",
        data={"name": "Helmets", "camera_id": str(cam.id), "offence": "no_helmet"},
    )
    assert "no helmet detector is installed" in helmet.text and helmet.headers["HX-Retarget"] == "#flash"
    lamp = officer.post(
        "/traffic/enforcement/signals",
        data={
            "name": "Saddar lamps",
            "source": "lamp",
            "camera_id": str(cam.id),
            "lamp_region": "0.8,0.1 0.9,0.1 0.9,0.4 0.8,0.4",
        },
    )
    assert lamp.status_code == 204, lamp.text
    shown = officer.get("/traffic/enforcement").text
    assert "Saddar red light" in shown and "Saddar lamps" in shown and "min_red_s 0.3" in shown
    assert (
        officer.post(f"/traffic/enforcement/rules/{rule.id}/enabled", data={"enabled": "0"}).status_code
        == 204
    )
    session.refresh(rule)
    assert rule.enabled is False
    assert officer.post(f"/traffic/enforcement/rules/{rule.id}/delete").status_code == 204
    assert officer.post(f"/traffic/enforcement/signals/{signal.id}/delete").status_code == 204
    # An operator reads the page without its forms and cannot use them.
    operator = login_as(factory.user("operator", districts=[district]))
    read_only = operator.get("/traffic/enforcement")
    assert read_only.status_code == 200 and 'data-testid="rule-form"' not in read_only.text
    refused = operator.post(
        "/traffic/enforcement/signals",
        data={"name": "x", "source": "controller", "district_id": str(district.id)},
    )
    assert refused.headers["HX-Retarget"] == "#flash" and "traffic.manage" in refused.text
