"""The `safecity` command as an administrator uses it, on a real database file."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import PlainSha256, rewrite_chain, unguard
from safecity.analytics.models import AnalyticsRule
from safecity.analytics.plates.hotlists.models import Hotlist, HotlistDistrict, HotlistEntry, ListKind
from safecity.analytics.plates.models import CameraPlates
from safecity.audit.models import AuditEntry, AuditHead
from safecity.auth import passwords
from safecity.auth import service as users
from safecity.auth.models import User
from safecity.cameras.models import Camera
from safecity.cli import app
from safecity.connectors.vehicles.models import Registration
from safecity.core.db import create_db_engine, create_session_factory
from safecity.dispatch.models import Unit
from safecity.incidents.models import Incident
from safecity.org.models import District
from safecity.traffic.models import Section
from safecity.traffic.violations.models import EnforcementRule, Signal
from safecity.video.demo import PLATE_VIEWS

runner = CliRunner()


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "safecity.db"
    monkeypatch.setenv("SAFECITY_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("SAFECITY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAFECITY_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    return path


def test_help_explains_each_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "migrate", "demo", "admin", "user", "config", "audit", "models"):
        assert command in result.output


def _serve(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[str, dict[str, object]]:
    """`safecity serve` up to the point where uvicorn would start: what it printed and uvicorn's arguments."""
    import uvicorn

    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(kwargs, app=app))
    result = runner.invoke(app, ["serve", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split()), started  # rich wraps long lines


# What the demo seeds for number plates: two ANPR cameras, a stolen-vehicles list and a section between them.
# The entry camera is also the red-light camera: it reads plates on tracked vehicles, so a violation finds
# its vehicle's plate by the track.
SEEDED_READING = {"University Road ANPR Entry": "vehicles PK", "University Road ANPR Exit": "dedicated PK"}
FIRST_PLATES = {
    "plates": SEEDED_READING,
    "hotlists": [("Stolen vehicles (demo)", ListKind.STOLEN, ["PSW"], ["LXR9021"])],
    "sections": [("University Road ANPR Entry", "University Road ANPR Exit", 220.0, 60.0)],
}


def _demo_plates(session: Session) -> dict[str, object]:
    """The plate reading, hotlists and sections in the database, in the shape of FIRST_PLATES."""
    names = dict(session.execute(select(Camera.id, Camera.name)).all())
    codes = dict(session.execute(select(District.id, District.code)).all())
    lists = []
    for hotlist in session.scalars(select(Hotlist)):
        assert hotlist.instructions and not hotlist.province_wide
        covers = select(HotlistDistrict.district_id).where(HotlistDistrict.hotlist_id == hotlist.id)
        districts = session.scalars(covers)
        plates = session.scalars(select(HotlistEntry.plate).where(HotlistEntry.hotlist_id == hotlist.id))
        lists.append((hotlist.name, hotlist.kind, [codes[d] for d in districts], list(plates)))
    return {
        "plates": {names[p.camera_id]: f"{p.mode} {p.region}" for p in session.scalars(select(CameraPlates))},
        "hotlists": lists,
        "sections": [
            (names[s.camera_a_id], names[s.camera_b_id], s.distance_m, s.speed_limit_kmh)
            for s in session.scalars(select(Section))
        ],
    }


# What the demo seeds for e-challans: the red-light camera's signal (read from the lamps drawn in its
# footage), stop line and rule; the registry's rows of the demo plates (whose make, colour and class fit the
# pickup the camera sees) and two more; the accounts of the e-challan work in Peshawar.
ENTRY_SIGNAL = PLATE_VIEWS[0].signal
FIRST_CHALLANS = {
    "signals": [
        (
            "Tehkal eastbound signal",
            "lamp",
            "University Road ANPR Entry",
            [list(p) for p in ENTRY_SIGNAL.region] if ENTRY_SIGNAL else None,
        )
    ],
    "stop_lines": [("Stop line, Tehkal signal", ["bus", "car", "motorcycle", "truck"])],
    "enforcement": [
        (
            "Red light, Tehkal eastbound",
            "red_light",
            "Stop line, Tehkal signal",
            "Tehkal eastbound signal",
            True,
        )
    ],
    # Keyed by the folded plate (look-alike characters: B as 8, S as 5), all from the "demo" extract.
    "registry": [
        ("A8C123", "KP", "17301-2345678-9", "+923015550123", "car", "white", "registered"),
        ("LEA1234", "PB", "35202-4417652-3", "+923004417652", "car", "off white", "registered"),
        ("LXR9021", "PB", "17301-8812345-7", "+923339012345", "car", "white", "registered"),
        ("P5R204", "KP", "17301-1122334-1", "+923121122334", "rickshaw", "green", "expired"),
        ("PR4471", "KP", "17301-6543210-5", "+923456543210", "motorcycle", "red", "registered"),
    ],
    "users": [
        ("adjudicator", ["adjudicator"], ["PSW"], True),
        ("auditor", ["auditor"], ["PSW"], True),
        ("desk", ["operator"], ["PSW"], False),
        ("dispatcher", ["dispatcher"], ["PSW"], False),
        ("finance", ["finance"], ["PSW"], True),
        ("investigator", ["investigator"], ["PSW"], True),
        ("officer", ["traffic_officer"], ["PSW"], True),
        ("officer2", ["traffic_officer"], ["PSW"], True),
        ("reviewer", ["camera_reviewer"], ["PSW"], False),
        ("supervisor", ["supervisor"], ["PSW"], True),
    ],
}


def _demo_challans(session: Session) -> dict[str, object]:
    """The e-challan side of the demo in the database, in the shape of FIRST_CHALLANS."""
    names = dict(session.execute(select(Camera.id, Camera.name)).all())
    codes = dict(session.execute(select(District.id, District.code)).all())
    rules = {r.id: r for r in session.scalars(select(AnalyticsRule))}
    signals = {s.id: s for s in session.scalars(select(Signal))}
    accounts = []
    for user in session.scalars(select(User).where(User.username != "admin").order_by(User.username)):
        access = users.access_of(session=session, user=user)
        scope = sorted(codes[d] for d in access.district_ids or ())
        # Owners' CNICs and phones are sensitive: these accounts must pass a second factor.
        accounts.append((user.username, sorted(r.role_name for r in user.roles), scope, access.mfa_required))
    return {
        "signals": [
            (s.name, s.source.value, names[s.camera_id] if s.camera_id else None, s.lamp_region)
            for s in signals.values()
        ],
        "stop_lines": [
            (r.name, r.config["classes"]) for r in rules.values() if r.name.startswith("Stop line")
        ],
        "enforcement": [
            (
                e.name,
                e.offence.value,
                rules[e.analytics_rule_id].name if e.analytics_rule_id else None,
                signals[e.signal_id].name if e.signal_id else None,
                e.enabled,
            )
            for e in session.scalars(select(EnforcementRule))
        ],
        "registry": [
            (r.plate, r.province_code, r.owner_cnic, r.owner_phone, r.vehicle_class, r.colour, r.status)
            for r in session.scalars(select(Registration).order_by(Registration.plate))
            if r.source == "import:demo"
        ],
        "users": accounts,
    }


def test_demo_without_footage_says_so_and_a_later_run_brings_the_cameras_online(
    db_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safecity.video.demo

    real_footage = safecity.video.demo.VTEST
    monkeypatch.setattr(safecity.video.demo, "VTEST", tmp_path / "not-installed.avi")
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())
    assert "Log in at http://127.0.0.1:8000/login" in said and "admin" in said
    assert "6 demo cameras have no footage" in said and "apt-get install opencv-doc darknet" in said
    # The e-challan accounts' passwords are printed once, each one a login that works.
    logins = dict(re.findall(r"(officer2?|adjudicator|finance) \([a-z_]+\): password (\S+)", said))
    assert sorted(logins) == ["adjudicator", "finance", "officer", "officer2"]
    assert "ABC-123 with CNIC digits 6789" in said and "/traffic/review" in said and "pay-demo" in said
    engine = create_db_engine(f"sqlite:///{db_file}")
    with create_session_factory(engine)() as session:
        demo_cameras = session.scalars(select(Camera)).all()
        assert len(demo_cameras) == 6 and not any(Path(c.stream_url).exists() for c in demo_cameras)
        assert _demo_plates(session) == FIRST_PLATES
        assert _demo_challans(session) == FIRST_CHALLANS
        for username, password in logins.items():
            account = session.scalars(select(User).where(User.username == username)).one()
            assert passwords.verify_password(account.password_hash, password)
            assert not account.mfa_enabled  # set up at the first login, as the administrator's
        units = session.scalars(select(Unit)).all()
        assert len(units) == 5 and all(u.latitude is not None for u in units)
        assert {i.category.value for i in session.scalars(select(Incident))} == {
            "traffic_accident",
            "street_crime",
        }
    served, _ = _serve(monkeypatch)
    assert "6 demo cameras have no footage" in served and "University Road ANPR Entry" in served

    # Someone changes how the exit camera reads plates: the next run of the demo keeps that.
    with create_session_factory(engine)() as session:
        exit_camera = session.scalars(select(Camera).where(Camera.name == "University Road ANPR Exit")).one()
        session.get_one(CameraPlates, exit_camera.id).mode = "vehicles"
        session.commit()
    # opencv-doc is installed later: running the demo again encodes the footage where the cameras look.
    monkeypatch.setattr(safecity.video.demo, "VTEST", real_footage)
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0 and "already exists" in second.output
    assert "no footage" not in second.output and "nothing new" in second.output
    assert "password" not in second.output.replace("already exists", "")  # no account made, none shown
    with create_session_factory(engine)() as session:
        assert all(Path(c.stream_url).is_file() for c in session.scalars(select(Camera)))  # real footage
        assert len(session.scalars(select(Camera)).all()) == 6
        # Nothing seeded twice, and the changed camera keeps its change.
        changed = {**SEEDED_READING, "University Road ANPR Exit": "vehicles PK"}
        assert _demo_plates(session) == FIRST_PLATES | {"plates": changed}
        assert _demo_challans(session) == FIRST_CHALLANS
    # A third run changes nothing either (the footage is there now: kept, not encoded again).
    clips = {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").glob("*.mp4")}
    third = runner.invoke(app, ["demo"])
    assert third.exit_code == 0 and "nothing new" in third.output
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").glob("*.mp4")} == clips
    with create_session_factory(engine)() as session:
        assert _demo_plates(session) == FIRST_PLATES | {"plates": changed}
        assert _demo_challans(session) == FIRST_CHALLANS
    engine.dispose()
    served, _ = _serve(monkeypatch)
    assert "no footage" not in served


def test_an_older_demo_gains_the_red_light_camera_and_reads_its_plates_by_track(
    db_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safecity.video.demo

    monkeypatch.setattr(safecity.video.demo, "VTEST", tmp_path / "not-installed.avi")
    assert runner.invoke(app, ["demo"]).exit_code == 0
    # As a demo seeded before e-challans left it: a dedicated ANPR entry camera, no enforcement, no registry.
    engine = create_db_engine(f"sqlite:///{db_file}")
    with create_session_factory(engine)() as session:
        entry = session.scalars(select(Camera).where(Camera.name == "University Road ANPR Entry")).one()
        session.get_one(CameraPlates, entry.id).mode = "dedicated"
        for table in (EnforcementRule, Signal, Registration):
            session.execute(delete(table))
        session.execute(delete(AnalyticsRule).where(AnalyticsRule.camera_id == entry.id))
        session.commit()
    again = runner.invoke(app, ["demo"])
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    for added in (
        "University Road ANPR Entry: Stop line, Tehkal signal",
        "signal Tehkal eastbound signal",
        "University Road ANPR Entry: Red light, Tehkal eastbound",
        "University Road ANPR Entry: reads plates (vehicles)",
        "registry rows for ABC-123, LEA-1234, LXR-9021, PR-4471, PSR-204",
    ):
        assert added in said
    with create_session_factory(engine)() as session:
        assert _demo_plates(session)["plates"] == SEEDED_READING
        assert _demo_challans(session) == FIRST_CHALLANS
    engine.dispose()


def test_serve_prints_the_address_it_really_listens_on(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def challans_link_to(started: dict[str, object]) -> str:  # the address in challans' QR codes and links
        app = started["app"]
        assert isinstance(app, FastAPI)
        return str(app.state.services.settings.challans.public_url)

    served, started = _serve(monkeypatch, "--port", "8765")
    assert "Log in at http://127.0.0.1:8765/login" in served and started["port"] == 8765
    assert challans_link_to(started) == "http://127.0.0.1:8765"
    monkeypatch.setenv("SAFECITY_WEB__PORT", "8123")
    served, started = _serve(monkeypatch)
    assert "Log in at http://127.0.0.1:8123/login" in served and started["port"] == 8123
    assert challans_link_to(started) == "http://127.0.0.1:8123"
    monkeypatch.setenv("SAFECITY_WEB__PUBLIC_URL", "https://cctv.police.example/")  # behind a proxy
    served, started = _serve(monkeypatch, "--port", "8765")
    assert "Log in at https://cctv.police.example/login" in served
    assert challans_link_to(started) == "https://cctv.police.example"
    monkeypatch.setenv("SAFECITY_CHALLANS__PUBLIC_URL", "https://echallan.kp.example")  # their own
    _, started = _serve(monkeypatch, "--port", "8765")
    assert challans_link_to(started) == "https://echallan.kp.example"


def test_admin_create_and_user_add_disable(db_file: Path) -> None:
    created = runner.invoke(app, ["admin", "create", "root2"])
    assert created.exit_code == 0 and "Password (shown once)" in created.output
    added = runner.invoke(app, ["user", "add", "sana", "--role", "operator", "--district", "PSW"])
    assert added.exit_code == 0, added.output
    unknown = runner.invoke(app, ["user", "add", "ali", "--role", "operator", "--district", "XXX"])
    assert unknown.exit_code == 2 and "unknown district" in unknown.output
    disabled = runner.invoke(app, ["user", "disable", "sana"])
    assert disabled.exit_code == 0, disabled.output
    engine = create_db_engine(f"sqlite:///{db_file}")
    with create_session_factory(engine)() as session:
        sana = session.scalars(select(User).where(User.username == "sana")).one()
        assert not sana.is_active and sana.role_names == {"operator"}
    engine.dispose()


def test_config_show_masks_secrets(db_file: Path) -> None:
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "cli-test-secret-key" not in result.output and "**********" in result.output


def test_audit_verify_finds_an_edited_entry(db_file: Path) -> None:
    assert runner.invoke(app, ["admin", "create", "root3"]).exit_code == 0
    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0 and "intact" in intact.output
    engine = create_db_engine(f"sqlite:///{db_file}")
    with engine.begin() as conn:  # an attacker with database access edits the log directly
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        for name in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'").scalars():
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        conn.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(actor_name="someone-else"))
    engine.dispose()
    tampered = runner.invoke(app, ["audit", "verify"])
    assert tampered.exit_code == 1
    assert "Tampering found" in tampered.output


def _truncate_and_rewind(session: Session) -> None:
    unguard(session)
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    first = session.get_one(AuditEntry, 1)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=1, hash=first.hash))


def _rewrite_without_the_key(session: Session) -> None:
    rewrite_chain(session, 1, PlainSha256.unkeyed())


def _forge_a_checkpoint(session: Session) -> None:
    path = Path(os.environ["SAFECITY_DATA_DIR"]) / "audit-checkpoints.jsonl"
    with path.open("a", encoding="utf-8") as out:
        out.write('{"seq": 2, "hash": "' + "0" * 64 + '", "at": "2026-01-01T00:00:00+00:00", "sig": "bad"}\n')


@pytest.mark.parametrize("tamper", [_truncate_and_rewind, _rewrite_without_the_key, _forge_a_checkpoint])
def test_audit_verify_fails_on_a_rewrite_the_chain_alone_would_pass(
    db_file: Path, tamper: Callable[[Session], None]
) -> None:
    for args in (
        ["admin", "create", "root4"],
        ["user", "add", "desk4", "--role", "operator", "--province-wide"],
    ):
        assert runner.invoke(app, args).exit_code == 0
    intact = runner.invoke(app, ["audit", "verify"])  # checkpoints the head it found intact
    assert intact.exit_code == 0 and "2 entries checked" in intact.output, intact.output
    engine = create_db_engine(f"sqlite:///{db_file}")
    with create_session_factory(engine).begin() as session:
        tamper(session)
    engine.dispose()
    tampered = runner.invoke(app, ["audit", "verify"])
    assert tampered.exit_code == 1, tampered.output
    assert "Tampering found" in tampered.output


def test_bad_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFECITY_MODE", "production")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2 and "configuration error" in result.output


def test_commands_refuse_an_unmigrated_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFECITY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(app, ["admin", "create", "someone"])
    assert result.exit_code == 2 and "safecity migrate" in result.output


def test_models_lists_each_model_with_package_licence_and_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    from safecity import cli
    from safecity.analytics import catalog

    monkeypatch.setattr(cli.console, "size", (200, 50))  # its width was fixed when it was made
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for model in catalog.MODELS:
        assert model.name in result.output
        assert model.distribution.split()[0] in result.output
        for file in model.files:
            assert file.sha256 in result.output.replace("\n", "").replace("│", "").replace(" ", "")
    assert "ok" in result.output

    # A model whose package is gone is reported, and the command fails.
    gone = catalog.ModelSpec(**{**catalog.MODELS[1].__dict__, "package": "safecity_no_such_models"})
    monkeypatch.setattr(catalog, "MODELS", (catalog.MODELS[0], gone))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 1
    assert "safecity_no_such_models is not installed" in result.output


def test_worker_serves_its_metrics(db_file: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("safecity")), "worker", "--metrics-port", str(port)]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert worker.poll() is None, worker.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the worker served no metrics"
                time.sleep(0.3)
        assert "safecity_analytics_queue_drops_total" in body
        assert "safecity_analytics_detector_seconds_bucket" in body
    finally:
        worker.terminate()
        worker.wait(timeout=15)
