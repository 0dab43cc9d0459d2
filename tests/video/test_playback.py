"""Recorded video comes back out: HLS playlists whose segments play, clips exported with their digest, pages.

Footage is real CCTV (see test_recorder.py), recorded by the real recorder into the app's recordings dir.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import PASSWORD, Factory, add_camera, record, serve
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import SightingIn
from safecity.audit.models import AuditEntry
from safecity.cameras.models import Camera
from safecity.config import Settings
from safecity.core.errors import NotFound, PermissionDenied
from safecity.events import service as events
from safecity.events.alerts import service as alerts
from safecity.events.schemas import EventIn
from safecity.org.models import District
from safecity.video import clips, retention
from safecity.video.models import Recording
from safecity.video.recorder import SegmentInfo

T0 = dt.datetime(2025, 11, 22, 5, 0, 0, tzinfo=dt.UTC)


@dataclass
class Recorded:
    district: District
    camera: Camera
    segments: list[SegmentInfo]


@pytest.fixture
def recorded(footage: Path, settings: Settings, session: Session, factory: Factory) -> Recorded:
    """Eight seconds of one camera in 2 s segments (a key frame every second), in the app's recordings dir."""
    district = factory.district()
    camera = add_camera(session, district.id)
    return Recorded(district, camera, record(session, camera, settings.recordings_dir, footage, T0))


def _span(start: float, end: float) -> dict[str, str]:
    return {
        "since": (T0 + dt.timedelta(seconds=start)).isoformat(),
        "until": (T0 + dt.timedelta(seconds=end)).isoformat(),
    }


def _decode(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


# --- export ---------------------------------------------------------------------------------------


def test_a_clip_starts_on_a_key_frame_and_covers_the_range_across_segment_boundaries(
    recorded: Recorded, settings: Settings, session: Session, factory: Factory
) -> None:
    investigator = factory.principal(factory.user("investigator", districts=[recorded.district]))
    t0, t1 = T0 + dt.timedelta(seconds=2.55), T0 + dt.timedelta(seconds=4.5)  # segment 2 into segment 3
    clip = clips.export_clip(
        session=session,
        principal=investigator,
        camera_id=recorded.camera.id,
        t0=t0,
        t1=t1,
        out_dir=settings.data_dir / "exports",
        recordings_dir=settings.recordings_dir,
    )

    assert clip.start == T0 + dt.timedelta(seconds=2)  # the key frame at or before t0
    assert clip.end >= t1 and clip.end - t1 <= dt.timedelta(seconds=0.2)
    assert clip.path.parent == settings.data_dir / "exports"
    assert (
        hashlib.sha256(clip.path.read_bytes()).hexdigest() == clip.sha256
        and clip.bytes == clip.path.stat().st_size
    )
    frames = _decode(clip.path.read_bytes())
    assert frames[0].key_frame and len(frames) == 25  # 2.0 s to 4.5 s at 10 fps
    times = [float(f.time or 0) for f in frames]
    assert times[0] == pytest.approx(0, abs=0.01)
    assert all(b - a == pytest.approx(0.1, abs=0.002) for a, b in itertools.pairwise(times))

    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "video.export")).one()
    assert (entry.object_type, entry.object_id, entry.outcome) == (
        "camera",
        str(recorded.camera.id),
        "success",
    )
    assert entry.detail["sha256"] == clip.sha256 and entry.district_id == recorded.district.id


def test_export_needs_video_export_and_the_cameras_district(
    recorded: Recorded, settings: Settings, session: Session, factory: Factory
) -> None:
    args = {
        "session": session,
        "camera_id": recorded.camera.id,
        "t0": T0,
        "t1": T0 + dt.timedelta(seconds=1),
        "out_dir": settings.data_dir / "exports",
        "recordings_dir": settings.recordings_dir,
    }
    with pytest.raises(PermissionDenied):
        clips.export_clip(principal=factory.principal(factory.user("operator")), **args)
    with pytest.raises(NotFound):
        other = factory.user("investigator", districts=[factory.district()])
        clips.export_clip(principal=factory.principal(other), **args)
    with pytest.raises(NotFound):  # nothing recorded then
        clips.export_clip(
            principal=factory.principal(factory.user("investigator")),
            **{**args, "t0": T0 - dt.timedelta(hours=1), "t1": T0 - dt.timedelta(minutes=1)},
        )


# --- HLS over the API -----------------------------------------------------------------------------


@dataclass
class HlsSegment:
    map_url: str
    map_range: tuple[int, int]  # length, offset
    duration: float
    url: str
    range: tuple[int, int]
    date: str


def _parse(playlist: str) -> tuple[list[HlsSegment], float | None]:
    segments: list[HlsSegment] = []
    start: float | None = None
    fields: dict[str, str] = {}
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-START:"):
            offset = re.search(r"TIME-OFFSET=([\d.]+)", line)
            assert offset
            start = float(offset[1])
        elif line.startswith("#EXT-X-MAP:"):
            fields["map"] = line
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            fields["date"] = line.split(":", 1)[1]
        elif line.startswith("#EXTINF:"):
            fields["duration"] = line[8:].rstrip(",")
        elif line.startswith("#EXT-X-BYTERANGE:"):
            fields["range"] = line.split(":", 1)[1]
        elif line and not line.startswith("#"):
            map_match = re.fullmatch(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"', fields["map"])
            assert map_match
            length, offset = fields["range"].split("@")
            segments.append(
                HlsSegment(
                    map_match[1],
                    (int(map_match[2]), int(map_match[3])),
                    float(fields["duration"]),
                    line,
                    (int(length), int(offset)),
                    fields["date"],
                )
            )
    return segments, start


def _fetch(client: TestClient, url: str, length: int, offset: int) -> bytes:
    response = client.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
    assert response.status_code == 206, response.text
    assert len(response.content) == length
    return response.content


def test_the_hls_playlist_covers_the_range_and_every_segment_plays(
    recorded: Recorded, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    operator = factory.user("operator", districts=[recorded.district])
    client = login_as(operator)
    response = client.get(f"/api/v1/cameras/{recorded.camera.id}/playback.m3u8", params=_span(3, 7))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    playlist = response.text
    assert playlist.startswith("#EXTM3U") and playlist.rstrip().endswith("#EXT-X-ENDLIST")

    segments, start = _parse(playlist)
    assert [s.date for s in segments] == [
        "2025-11-22T05:00:02.000Z",
        "2025-11-22T05:00:04.000Z",
        "2025-11-22T05:00:06.000Z",
    ]
    assert start == pytest.approx(1.0)  # playback begins at `since`, 1 s into the first segment
    assert [s.duration for s in segments] == [2.0, 2.0, 2.0]
    for segment in segments:
        head = _fetch(client, segment.map_url, *segment.map_range)
        body = _fetch(client, segment.url, *segment.range)
        frames = _decode(head + body)  # what hls.js hands the browser: the init section, then the media
        assert len(frames) == 20 and frames[0].key_frame

    whole = client.get(segments[0].url)
    assert whole.headers["x-content-sha256"] == hashlib.sha256(whole.content).hexdigest()
    # Never cached: Chromium replaying partly cached ranges of a segment handed hls.js a truncated one.
    assert whole.headers["cache-control"] == "no-store"
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "video.playback", AuditEntry.actor_id == operator.id)
    ).one()
    assert entry.object_id == str(recorded.camera.id) and entry.detail["segments"] == 3

    timeline = client.get(f"/api/v1/cameras/{recorded.camera.id}/timeline", params=_span(-2, 10)).json()
    assert [(s["kind"], s["locked"]) for s in timeline] == [
        ("gap", False),
        ("recorded", False),
        ("gap", False),
    ]


def test_the_api_refuses_without_the_permission_and_hides_other_districts(
    recorded: Recorded, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    camera = recorded.camera.id
    recording_id = session.scalars(select(Recording.id).where(Recording.camera_id == camera)).first()
    playlist = f"/api/v1/cameras/{camera}/playback.m3u8"
    segment = f"/api/v1/recordings/{recording_id}/segment.mp4"
    clip_body = {
        "t0": (T0 + dt.timedelta(seconds=1)).isoformat(),
        "t1": (T0 + dt.timedelta(seconds=3)).isoformat(),
    }

    dispatcher = login_as(factory.user("dispatcher", districts=[recorded.district]))  # live video only
    assert dispatcher.get(playlist, params=_span(0, 4)).status_code == 403
    assert dispatcher.get(segment).status_code == 403
    operator = login_as(factory.user("operator", districts=[recorded.district]))
    assert operator.post(f"/api/v1/cameras/{camera}/clips", json=clip_body).status_code == 403

    outsider = login_as(factory.user("investigator", districts=[factory.district()]))
    assert outsider.get(playlist, params=_span(0, 4)).status_code == 404
    assert outsider.get(segment).status_code == 404
    assert outsider.post(f"/api/v1/cameras/{camera}/clips", json=clip_body).status_code == 404

    investigator = login_as(factory.user("investigator", districts=[recorded.district]))
    made = investigator.post(f"/api/v1/cameras/{camera}/clips", json=clip_body)
    assert made.status_code == 201, made.text
    clip = made.json()
    assert (
        clip["start"].startswith("2025-11-22T05:00:01")
        and clip["download_url"] == f"/api/v1/clips/{clip['id']}"
    )
    download = investigator.get(clip["download_url"])
    assert download.status_code == 200 and download.headers["x-content-sha256"] == clip["sha256"]
    assert hashlib.sha256(download.content).hexdigest() == clip["sha256"]
    assert _decode(download.content)[0].key_frame
    assert outsider.get(clip["download_url"]).status_code == 404
    assert operator.get(clip["download_url"]).status_code == 403

    denied = session.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert len(denied) >= 3
    exports = session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("video.export"))).all()
    assert {e.action for e in exports} == {"video.export", "video.export.download"}

    unknown = investigator.get(f"/api/v1/cameras/{uuid.uuid4()}/playback.m3u8", params=_span(0, 4))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_an_index_row_naming_a_file_elsewhere_is_never_served_exported_or_deleted(
    recorded: Recorded,
    factory: Factory,
    login_as: Callable[..., TestClient],
    session: Session,
    settings: Settings,
    tmp_path: Path,
) -> None:
    outside = tmp_path / "elsewhere" / "secret.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"not police video")
    recordings = settings.recordings_dir
    relative = Path("..") / Path(*([".."] * len(recordings.parts)))  # climbs to / from the folder
    rows = session.scalars(
        select(Recording).where(Recording.camera_id == recorded.camera.id).order_by(Recording.start)
    ).all()
    rows[0].path = str(outside)  # absolute
    rows[1].path = str(relative / outside.relative_to("/"))  # ../../…
    session.flush()

    investigator = login_as(factory.user("investigator", districts=[recorded.district]))
    for row in rows[:2]:
        served = investigator.get(f"/api/v1/recordings/{row.id}/segment.mp4")
        assert served.status_code == 404 and b"police video" not in served.content
    clip = {"t0": T0.isoformat(), "t1": (T0 + dt.timedelta(seconds=3)).isoformat()}
    assert investigator.post(f"/api/v1/cameras/{recorded.camera.id}/clips", json=clip).status_code == 409

    retention.remove_camera_footage(session=session, recordings_dir=recordings, camera_id=recorded.camera.id)
    assert outside.read_bytes() == b"not police video"


def test_evidence_locks_over_the_api(
    recorded: Recorded, factory: Factory, login_as: Callable[..., TestClient]
) -> None:
    camera = recorded.camera.id
    body = {**_span(0, 3), "reason": "FIR 91/2025"}
    operator = login_as(factory.user("operator", districts=[recorded.district]))
    assert operator.post(f"/api/v1/cameras/{camera}/recordings/lock", json=body).status_code == 403
    investigator = login_as(factory.user("investigator", districts=[recorded.district]))
    assert investigator.post(f"/api/v1/cameras/{camera}/recordings/lock", json=body).json() == {"segments": 2}
    spans = operator.get(f"/api/v1/cameras/{camera}/timeline", params=_span(0, 8)).json()
    assert [(s["kind"], s["locked"]) for s in spans] == [("recorded", True), ("recorded", False)]
    assert investigator.post(f"/api/v1/cameras/{camera}/recordings/unlock", json=body).json() == {
        "segments": 2
    }


# --- the page -------------------------------------------------------------------------------------


def _happenings(session: Session, recorded: Recorded) -> None:
    """An analytics event, an alert and a plate read at the recorded camera, 2, 4 and 6 s into its footage."""
    camera = recorded.camera
    events.record_many(
        session=session,
        events=[
            EventIn(
                id=uuid.uuid4(),
                occurred_at=T0 + dt.timedelta(seconds=2),
                kind="analytics.line_crossing",
                source="analytics",
                district_id=recorded.district.id,
                camera_id=camera.id,
                severity=2,
            )
        ],
    )
    alert = alerts.raise_alert(
        session=session,
        kind="analytics.loitering",
        severity=3,
        title="Loitering at the gate",
        source="analytics",
        camera_id=camera.id,
    )
    alert.raised_at = alert.first_raised_at = T0 + dt.timedelta(seconds=4)
    moment = T0 + dt.timedelta(seconds=6)
    plates.record(
        session=session,
        sighting=SightingIn(
            camera_id=camera.id,
            district_id=recorded.district.id,
            seen_at=moment,
            first_seen=moment,
            last_seen=moment,
            plate="LEA1234",
            confidence=0.9,
            layout="punjab",
            jurisdiction="Punjab",
            colour="white",
            vehicle_class="car",
        ),
    )
    session.flush()


def test_the_camera_page_holds_playback_and_the_old_address_leads_there(
    recorded: Recorded, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    investigator = factory.user("investigator", districts=[recorded.district])
    client = login_as(investigator)
    old = client.get(
        f"/cameras/{recorded.camera.id}/playback",
        params={"at": "2025-11-22T10:00:05+05:00"},
        follow_redirects=False,
    )
    assert old.status_code == 303
    assert old.headers["location"] == (
        f"/cameras/{recorded.camera.id}?at=2025-11-22T10%3A00%3A05%2B05%3A00#playback"
    )
    page = client.get(f"/cameras/{recorded.camera.id}", params={"at": "2025-11-22T05:00:05Z"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-testid="timeline"' in html and "/static/vendor/hls.min.js" in html
    assert 'data-at="2025-11-22T05:00:05+00:00"' in html and 'data-zoom="hour"' in html
    assert "Instant replay (30 s)" in html and "Export clip" in html
    assert 'data-testid="live"' not in html  # an investigator may play back, not watch live
    assert "<details" in html and "fieldset disabled" in html  # the details, read-only, below
    viewed = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "video.playback", AuditEntry.actor_id == investigator.id
        )
    ).one()
    assert viewed.detail["view"] == "camera page"
    day = client.get(f"/cameras/{recorded.camera.id}", params={"day": "2025-11-22"}).text
    assert 'data-zoom="day"' in day and 'data-since="2025-11-21T19:00:00+00:00"' in day  # local midnight
    assert 'data-at=""' in day

    answer = client.post(
        f"/cameras/{recorded.camera.id}/playback/clips",
        data={"t0": "2025-11-22T10:00:01", "t1": "2025-11-22T10:00:05"},  # local time
    )
    assert answer.status_code == 200, answer.text
    digest = re.search(r'data-testid="clip-sha256">([0-9a-f]{64})<', answer.text)
    assert digest
    link = re.search(r'href="(/api/v1/clips/[0-9a-f-]+)"', answer.text)
    assert link and hashlib.sha256(client.get(link[1]).content).hexdigest() == digest[1]

    refused = client.post(
        f"/cameras/{recorded.camera.id}/playback/clips",
        data={"t0": "2025-11-22T09:00:00", "t1": "2025-11-22T09:10:00"},
    )
    assert "no recordings" in refused.text and "flash error" in refused.text

    # A dispatcher watches live but may not play back: live and snapshot, no timeline, no export.
    dispatcher = login_as(factory.user("dispatcher", districts=[recorded.district]))
    assert dispatcher.get(f"/cameras/{recorded.camera.id}/playback").status_code == 403
    live_only = dispatcher.get(f"/cameras/{recorded.camera.id}").text
    assert 'data-testid="live"' in live_only and "Snapshot" in live_only
    assert 'data-testid="timeline"' not in live_only and "Export clip" not in live_only
    # An IT administrator manages cameras without watching them: the settings form is the page.
    admin = login_as(factory.user("admin", districts=[recorded.district]))
    form = admin.get(f"/cameras/{recorded.camera.id}").text
    assert 'id="camera-form"' in form and "data-camera-view" not in form
    # Another district's camera stays hidden.
    elsewhere = login_as(factory.user("investigator", districts=[factory.district()]))
    assert elsewhere.get(f"/cameras/{recorded.camera.id}").status_code == 404


def test_timeline_markers_show_what_each_role_may_read(
    recorded: Recorded, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    _happenings(session, recorded)
    url = f"/api/v1/cameras/{recorded.camera.id}/markers"
    window = _span(0, 8)

    supervisor = login_as(factory.user("supervisor", districts=[recorded.district]))
    found = supervisor.get(url, params=window).json()
    assert [(m["kind"], m["at"][:19]) for m in found] == [
        ("event", "2025-11-22T05:00:02"),
        ("alert", "2025-11-22T05:00:04"),
        ("plate", "2025-11-22T05:00:06"),
    ]
    assert found[0]["label"] == "Analytics.line crossing" and found[0]["severity"] == "medium"
    assert found[1]["label"] == "Loitering at the gate" and found[1]["href"].startswith("/console?alert=")
    assert "LEA1234" not in str(found)  # a plate read shows no plate here: plate history needs a purpose
    assert found[2]["label"] == "Plate read: white car"

    # Only what each may read elsewhere: an operator reads alerts, an investigator plates.
    operator = login_as(factory.user("operator", districts=[recorded.district]))
    assert [m["kind"] for m in operator.get(url, params=window).json()] == ["event", "alert"]
    investigator = login_as(factory.user("investigator", districts=[recorded.district]))
    assert [m["kind"] for m in investigator.get(url, params=window).json()] == ["plate"]
    assert supervisor.get(url, params=_span(3, 5)).json()[0]["kind"] == "alert"  # the range counts

    dispatcher = login_as(factory.user("dispatcher", districts=[recorded.district]))
    assert dispatcher.get(url, params=window).status_code == 403
    elsewhere = login_as(factory.user("supervisor", districts=[factory.district()]))
    assert elsewhere.get(url, params=window).status_code == 404


def test_the_playback_picker_lists_the_cameras_of_ones_districts(
    recorded: Recorded, factory: Factory, login_as: Callable[..., TestClient], session: Session
) -> None:
    other = add_camera(session, factory.district().id)
    client = login_as(factory.user("investigator", districts=[recorded.district]))
    page = client.get("/playback", params={"q": recorded.camera.name[-4:], "at": "2025-11-22T10:00:05"})
    assert page.status_code == 200, page.text
    assert recorded.camera.name in page.text and other.name not in page.text
    assert f"/cameras/{recorded.camera.id}?at=2025-11-22T05%3A00%3A05%2B00%3A00#playback" in page.text
    assert "No camera of your districts matches." in client.get("/playback", params={"q": "zzz"}).text
    dispatcher = login_as(factory.user("dispatcher", districts=[recorded.district]))
    assert dispatcher.get("/playback").status_code == 403


# --- in a real browser ----------------------------------------------------------------------------


@pytest.mark.browser
def test_hls_js_plays_across_segments_in_chromium_and_a_marked_clip_is_exported(
    footage: Path, db_url: str, tmp_path: Path, settings: Settings, chromium: Browser
) -> None:
    with serve(settings, db_url, tmp_path) as app:
        base = app.base
        with app.services.session_factory() as session:
            factory = Factory(session, app.services.mfa_box)
            district = factory.district()
            camera = add_camera(session, district.id)
            record(session, camera, settings.recordings_dir, footage, T0)
            user = factory.user("investigator", districts=[district])
            session.commit()
            code = factory.totp(user.username)
        # The page closes before the server stops, so no connection of its holds the shutdown.
        with chromium.new_page() as page:
            errors: list[str] = []

            def on_console(message: ConsoleMessage) -> None:
                # The app has no favicon; anything else that fails (a CSP refusal, hls.js) counts.
                if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
                    errors.append(f"{message.text} {message.location['url']}")

            page.on("console", on_console)
            login = page.request.post(
                f"{base}/api/v1/auth/login", data={"username": user.username, "password": PASSWORD}
            )
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            page.request.post(f"{base}/api/v1/auth/mfa/verify", data={"code": code}, headers=csrf)

            # The investigator's menu reaches playback: pick the camera and a moment, open it there.
            page.goto(f"{base}/")
            page.get_by_role("navigation", name="Main").get_by_text("Video", exact=True).click()
            page.get_by_role("link", name="Playback", exact=True).click()
            page.get_by_label("Camera").fill(camera.name)
            page.get_by_label("From (optional)").fill("2025-11-22T10:00:03")
            page.get_by_role("button", name="Find").click()
            page.get_by_role("link", name="Play from then").click()
            expect(page).to_have_url(
                re.compile(rf"/cameras/{camera.id}\?at=2025-11-22T05%3A00%3A03.*#playback$")
            )
            page.wait_for_function(
                "() => document.getElementById('player').dataset.wallTime >= '2025-11-22T05:00:03'",
                timeout=20000,
            )

            # The old playback address leads to the camera page, which plays from the moment given.
            page.goto(f"{base}/cameras/{camera.id}/playback?at=2025-11-22T10:00:00%2B05:00")
            expect(page).to_have_url(re.compile(rf"/cameras/{camera.id}\?at=.*#playback$"))
            expect(page.locator(".tl-span.recorded")).to_have_count(1)  # 8 s in 2 s segments: one span
            window = page.get_by_test_id("timeline-window")
            expect(window).to_contain_text("2025-11-22 09:30 \N{EN DASH} 10:30")  # an hour around it
            player = "() => document.getElementById('player').currentTime"
            page.wait_for_function(f"{player} > 1.5", timeout=20000)
            page.get_by_role("button", name="Mark start").click()
            # Past the first segment boundary (a discontinuity with a new init section).
            page.wait_for_function(f"{player} > 2.5", timeout=20000)
            page.get_by_role("button", name="Mark end").click()
            wall = dt.datetime.fromisoformat(page.locator("#player").get_attribute("data-wall-time") or "")
            assert T0 + dt.timedelta(seconds=2.3) <= wall <= T0 + dt.timedelta(seconds=4)
            expect(page.get_by_test_id("clock")).to_contain_text("2025-11-22 10:00:0")  # Asia/Karachi
            assert page.get_by_label("From").first.input_value() == "2025-11-22T10:00:01"

            page.get_by_role("button", name="Export clip").click()
            expect(page.get_by_test_id("clip-sha256")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))

            # Opened at a moment (an alert's time): playback starts there, 1 s into a segment.
            # The same segments again: they must play (a cached, truncated range once broke the player).
            page.goto(f"{base}/cameras/{camera.id}?at=2025-11-22T10:00:05%2B05:00")
            page.wait_for_function(
                """() => document.getElementById('player').dataset.wallTime
                    || document.getElementById('player-status').textContent""",
                timeout=20000,
            )
            expect(page.locator("#player-status")).to_have_text("")  # not "Playback failed (...)"
            wall = dt.datetime.fromisoformat(page.locator("#player").get_attribute("data-wall-time") or "")
            assert T0 + dt.timedelta(seconds=5) <= wall <= T0 + dt.timedelta(seconds=7)
            assert errors == [], errors  # nothing refused by the CSP, no player errors
