"""Reference data every installation needs, and the demo a newcomer sees after `make run`."""

from __future__ import annotations

import csv
import io
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safecity.analytics import service as analytics
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.hotlists import service as hotlists
from safecity.analytics.plates.hotlists.schemas import EntryIn, HotlistIn
from safecity.analytics.plates.schemas import PlateSettings
from safecity.analytics.schemas import rule_adapter
from safecity.auth import passwords
from safecity.auth import service as users
from safecity.auth.principal import SYSTEM, Principal
from safecity.cameras import service as cameras
from safecity.cameras.models import Camera
from safecity.cameras.schemas import CameraIn
from safecity.config import Settings
from safecity.connectors.vehicles import service as registry
from safecity.connectors.vehicles.schemas import CSV_HEADER
from safecity.core.db import utcnow
from safecity.dispatch import service as dispatch
from safecity.dispatch.models import UnitStatus
from safecity.dispatch.positions import report_position
from safecity.dispatch.schemas import UnitIn
from safecity.incidents import service as incidents
from safecity.incidents.schemas import IncidentIn
from safecity.org import service as org
from safecity.org.schemas import PlaceIn
from safecity.records import service as records
from safecity.records.models import FirStatus, LinkKind, PartyRole, Person
from safecity.records.schemas import FirIn, LinkIn, PersonNew, VehicleNew, WarrantIn
from safecity.traffic import service as traffic
from safecity.traffic.challans import service as challans
from safecity.traffic.schemas import SectionIn
from safecity.traffic.violations import service as enforcement
from safecity.traffic.violations.models import Offence, SignalSource
from safecity.traffic.violations.schemas import EnforcementRuleIn, SignalIn
from safecity.video.demo import PLATE_VIEWS, VTEST, lights_at_stop_line, make_clips, make_plate_clips

logger = logging.getLogger(__name__)

DEMO_FILE = Path(__file__).with_name("demo.toml")
DEMO_ADMIN = "admin"
DEMO_EXTRACT = "demo"  # the registry rows' file name: their source is "import:demo"


@dataclass(frozen=True)
class DemoLogin:
    """A demo account made by this run, with its generated password (shown once)."""

    username: str
    full_name: str
    roles: tuple[str, ...]
    password: str


@dataclass
class DemoReport:
    admin_username: str
    admin_password: str | None  # None when the administrator already existed
    added: list[str] = field(default_factory=list)
    without_footage: list[str] = field(default_factory=list)  # demo cameras that stay offline for now
    logins: list[DemoLogin] = field(default_factory=list)  # the e-challan accounts made by this run


def reference_data(*, session: Session) -> list[str]:
    """Built-in roles, the province's districts, the emergency agencies and the fine schedules; idempotent."""
    dispatch.ensure_agencies(session=session)
    added = users.ensure_roles(session=session) + org.ensure_districts(session=session)
    return added + challans.ensure_fines(session=session)


def demo(*, session: Session, settings: Settings) -> DemoReport:
    """Seed the demo (idempotent): reference data, an administrator, stations, sites, cameras with their
    rules, ANPR cameras with a hotlist and a speed section between them, a red-light camera with its
    signal, the registry's rows of the demo plates, the e-challan accounts, units and incidents.
    """
    added = reference_data(session=session)
    admin = users.find_by_username(session=session, username=DEMO_ADMIN)
    password = None
    if admin is None:
        admin, password = users.create_admin(session=session, username=DEMO_ADMIN)
        added.append(f"user {DEMO_ADMIN}")
    actor = Principal(
        user_id=admin.id,
        username="demo-seed",
        permissions=frozenset(
            {
                "org.read",
                "org.manage",
                "cameras.read",
                "cameras.manage",
                "analytics.manage",
                "dispatch.manage",
                "incidents.read",
                "incidents.manage",
                "plates.read",
                "hotlists.manage",
                "traffic.read",
                "traffic.manage",
                "registry.import",
                "records.read",
                "records.manage",
            }
        ),
        district_ids=None,
    )
    data = tomllib.loads(DEMO_FILE.read_text(encoding="utf-8"))
    for kind, add, lister in (
        ("stations", org.add_station, org.list_stations),
        ("sites", org.add_site, org.list_sites),
    ):
        for spec in data[kind]:
            district = org.district_by_code(session=session, code=spec.pop("district"))
            if district is None:
                continue
            existing = {p.name for p in lister(session=session, actor=actor, district_id=district.id)}
            if spec["name"] not in existing:
                add(session=session, actor=actor, data=PlaceIn(district_id=district.id, **spec))
                added.append(spec["name"])
    added += _demo_cameras(session=session, settings=settings, actor=actor, specs=data["cameras"])
    added += _demo_rules(session=session, actor=actor, specs=data["cameras"])
    added += _demo_plates(session=session, actor=actor, data=data)
    added += _demo_enforcement(session=session, actor=actor, specs=data["cameras"])
    added += _demo_registry(session=session, actor=actor, rows=data["registry"])
    logins = _demo_users(session=session, specs=data["users"])
    added += [f"user {login.username}" for login in logins]
    added += _demo_control_room(session=session, actor=actor, units=data["units"], calls=data["incidents"])
    added += _demo_records(session=session, actor=actor, data=data["records"])
    return DemoReport(
        DEMO_ADMIN,
        password,
        added,
        demo_cameras_without_footage(session=session, settings=settings),
        logins,
    )


def demo_cameras_without_footage(*, session: Session, settings: Settings) -> list[str]:
    """The demo cameras whose footage is not encoded yet: offline until `safecity demo` runs with it."""
    folder = (settings.data_dir / "demo").resolve()
    rows = session.execute(select(Camera.name, Camera.stream_url).order_by(Camera.name))
    return [name for name, url in rows if Path(url).parent == folder and not Path(url).is_file()]


def footage_hint(names: list[str]) -> str:
    """What a person does about demo cameras without footage."""
    return (
        f"{len(names)} demo cameras have no footage and stay offline: {', '.join(names)}. "
        f"Install Debian's opencv-doc for {VTEST.name}, darknet and fonts-dejavu-core for the number plates "
        "(as root: apt-get install opencv-doc darknet fonts-dejavu-core), then run "
        "`safecity demo` again: the cameras come online within 30 s, without a restart."
    )


def challan_hint(base_url: str) -> str:
    """Where a newcomer sees the demo's e-challans, and how the citizen finds theirs."""
    data = tomllib.loads(DEMO_FILE.read_text(encoding="utf-8"))
    cnics = {row["plate"]: row["owner_cnic"] for row in data["registry"]}
    runners = [
        plate for v in PLATE_VIEWS for plate, light in lights_at_stop_line(v).items() if light == "red"
    ]
    portal = ", ".join(f"{p} with CNIC digits {''.join(filter(str.isdigit, cnics[p]))[-4:]}" for p in runners)
    return (
        f"E-challans: the red-light camera catches {', '.join(runners)} once a minute; the violations reach "
        f"{base_url}/traffic/review (log in as officer) a minute or two after `safecity serve` starts. "
        f"Once a challan is issued the citizen portal {base_url}/portal finds it ({portal}), and "
        "`safecity challans pay-demo NUMBER` pays it by a signed bank callback."
    )


def _demo_control_room(
    *, session: Session, actor: Principal, units: list[dict[str, Any]], calls: list[dict[str, Any]]
) -> list[str]:
    """Units of each agency at their stations, and a few logged calls, in Peshawar; once only."""
    peshawar = org.district_by_code(session=session, code="PSW")
    if peshawar is None or dispatch.list_units(session=session, principal=actor):
        return []
    added = []
    for spec in units:
        unit = dispatch.create_unit(
            session=session,
            principal=actor,
            data=UnitIn(
                agency=spec["agency"],
                call_sign=spec["call_sign"],
                district_id=peshawar.id,
                vehicle_registration=spec["vehicle_registration"],
                vehicle_type=spec["vehicle_type"],
                status=UnitStatus.AVAILABLE,
            ),
        )
        report_position(
            session=session, unit_id=unit.id, lat=spec["latitude"], lon=spec["longitude"], at=utcnow()
        )
        added.append(spec["call_sign"])
    for call in calls:
        incident = incidents.create_incident(
            session=session, principal=actor, data=IncidentIn(district_id=peshawar.id, **call)
        )
        added.append(incident.number)
    return added


def _demo_rules(*, session: Session, actor: Principal, specs: list[dict[str, Any]]) -> list[str]:
    """The analytics rules drawn on the demo cameras (a line and a zone), where not drawn yet."""
    by_name = {c.name: c for c in cameras.list_cameras(session=session, principal=actor)}
    added = []
    for spec in specs:
        camera = by_name.get(spec["name"])
        if camera is None:
            continue
        drawn = {r.name for r in analytics.list_rules(session=session, principal=actor, camera_id=camera.id)}
        for rule in spec.get("rules", []):
            if rule["name"] not in drawn:
                config = rule_adapter.validate_python(rule)
                analytics.create_rule(session=session, principal=actor, camera_id=camera.id, config=config)
                added.append(f"{spec['name']}: {rule['name']}")
    return added


def _demo_plates(*, session: Session, actor: Principal, data: dict[str, Any]) -> list[str]:
    """Plate reading on the ANPR cameras (where never set, so a later change stays), the hotlists and their
    plates, and the speed sections between the cameras; each once.
    """
    by_name = {c.name: c for c in cameras.list_cameras(session=session, principal=actor)}
    added = []
    for spec in data["cameras"]:
        camera = by_name.get(spec["name"])
        if camera is None or "plates" not in spec:
            continue
        if plates.get_settings(session=session, principal=actor, camera_id=camera.id).updated_at is None:
            settings = PlateSettings.model_validate(spec["plates"])
            plates.set_settings(session=session, principal=actor, camera_id=camera.id, settings=settings)
            added.append(f"{spec['name']}: reads plates ({settings.mode})")
    existing = {h.name for h in hotlists.list_hotlists(session=session, principal=actor)}
    for spec in data["hotlists"]:
        if spec["name"] in existing:
            continue
        codes = spec.pop("districts")
        districts = [d for code in codes if (d := org.district_by_code(session=session, code=code))]
        if len(districts) != len(codes):
            continue
        entries = spec.pop("entries")
        hotlist = hotlists.create_hotlist(
            session=session, principal=actor, data=HotlistIn(district_ids=[d.id for d in districts], **spec)
        )
        for entry in entries:
            hotlists.add_entry(
                session=session, principal=actor, hotlist_id=hotlist.id, data=EntryIn.model_validate(entry)
            )
        added.append(f"hotlist {hotlist.name} with {len(entries)} plate(s)")
    sections = {s.name for s in traffic.list_sections(session=session, principal=actor)}
    for spec in data["sections"]:
        a, b = by_name.get(spec.pop("camera_a")), by_name.get(spec.pop("camera_b"))
        if spec["name"] in sections or a is None or b is None:
            continue
        traffic.create_section(
            session=session, principal=actor, data=SectionIn(camera_a_id=a.id, camera_b_id=b.id, **spec)
        )
        added.append(f"section {spec['name']}")
    return added


def _demo_enforcement(*, session: Session, actor: Principal, specs: list[dict[str, Any]]) -> list[str]:
    """The signals watched by the demo cameras (read from the lamps drawn in their footage) and the offences
    enforced there over the lines drawn by `_demo_rules`; each where not there yet.
    """
    by_name = {c.name: c for c in cameras.list_cameras(session=session, principal=actor)}
    heads = {view.name: view.signal for view in PLATE_VIEWS if view.signal is not None}
    signals = {s.name: s.id for s in enforcement.list_signals(session=session, principal=actor)}
    added = []
    for spec in specs:
        camera = by_name.get(spec["name"])
        if camera is None:
            continue
        head = heads.get(spec["clip"])
        if "signal" in spec and head is not None and spec["signal"]["name"] not in signals:
            signal = enforcement.create_signal(
                session=session,
                principal=actor,
                data=SignalIn(
                    name=spec["signal"]["name"],
                    source=SignalSource.LAMP,
                    camera_id=camera.id,
                    lamp_region=list(head.region),
                ),
            )
            signals[signal.name] = signal.id
            added.append(f"signal {signal.name} (read from its lamps on {camera.name})")
        drawn = {
            r.name: r.id for r in analytics.list_rules(session=session, principal=actor, camera_id=camera.id)
        }
        enforced = {
            r.name for r in enforcement.list_rules(session=session, principal=actor, camera_id=camera.id)
        }
        for rule in spec.get("enforcement", []):
            line, signal_id = drawn.get(rule["stop_line"]), signals.get(rule["signal"])
            if rule["name"] in enforced or line is None or signal_id is None:
                continue
            enforcement.create_rule(
                session=session,
                principal=actor,
                data=EnforcementRuleIn(
                    name=rule["name"],
                    camera_id=camera.id,
                    offence=Offence(rule["offence"]),
                    analytics_rule_id=line,
                    signal_id=signal_id,
                    params=rule.get("params", {}),
                ),
            )
            added.append(f"{camera.name}: {rule['name']}")
            # A violation finds its plate by the vehicle's track: a demo seeded before enforcement read this
            # camera's plates without tracks (dedicated), so it now reads them as demo.toml says.
            wanted = PlateSettings.model_validate(spec.get("plates", {"mode": "vehicles"}))
            now = plates.get_settings(session=session, principal=actor, camera_id=camera.id)
            if now.settings.mode != wanted.mode:
                plates.set_settings(session=session, principal=actor, camera_id=camera.id, settings=wanted)
                added.append(f"{camera.name}: reads plates ({wanted.mode})")
    return added


def _demo_registry(*, session: Session, actor: Principal, rows: list[dict[str, str]]) -> list[str]:
    """The registry's rows of the demo plates and a few more, imported as an Excise extract (source
    "import:demo") where the registry has no row for the plate yet (a later import's row stays).
    """
    held = registry.held_plates(session=session, plates=[row["plate"] for row in rows])
    missing = [row for row in rows if row["plate"] not in held]
    if not missing:
        return []
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([row[column] for column in CSV_HEADER] for row in missing)
    report = registry.import_csv(
        session=session, principal=actor, text=text.getvalue(), dry_run=False, file_name=DEMO_EXTRACT
    )
    if report.errors:  # demo.toml is ours: a bad row is a bug, said plainly
        raise ValueError(f"demo.toml's registry rows are refused: {report.results}")
    return [f"registry rows for {', '.join(row['plate'] for row in missing)}"]


def _demo_records(*, session: Session, actor: Principal, data: dict[str, Any]) -> list[str]:
    """The demo's criminal records (persons, their vehicles, an FIR, a warrant, a link), once: a run that
    finds the first person's CNIC held adds nothing."""
    specs = data["persons"]
    first = PersonNew.model_validate({k: v for k, v in specs[0].items() if k != "key"})
    if session.scalar(select(Person.id).where(Person.cnic == first.cnic)) is not None:
        return []
    peshawar = org.district_by_code(session=session, code="PSW")
    if peshawar is None:
        return []
    people = {
        spec["key"]: records.create_person(
            session=session,
            principal=actor,
            data=PersonNew.model_validate(
                {**{k: v for k, v in spec.items() if k != "key"}, "district_id": peshawar.id}
            ),
        ).id
        for spec in specs
    }
    for spec in data["vehicles"]:
        fields = {k: v for k, v in spec.items() if k != "owner"}
        vehicle = VehicleNew.model_validate(
            {**fields, "district_id": peshawar.id, "owner_id": people[spec["owner"]]}
        )
        records.create_vehicle(session=session, principal=actor, data=vehicle)
    stations = {
        s.name: s.id for s in org.list_stations(session=session, actor=actor, district_id=peshawar.id)
    }
    for spec in data["firs"]:
        fir = records.add_fir(
            session=session,
            principal=actor,
            data=FirIn.model_validate(
                {
                    **{k: v for k, v in spec.items() if k not in ("station", "status", "parties")},
                    "police_station_id": stations[spec["station"]],
                }
            ),
        )
        for key, role in spec["parties"]:
            records.add_party(
                session=session, principal=actor, fir_id=fir.id, person_id=people[key], role=PartyRole(role)
            )
        records.set_fir_status(
            session=session, principal=actor, fir_id=fir.id, status=FirStatus(spec["status"])
        )
    for spec in data["warrants"]:
        fields = {k: v for k, v in spec.items() if k != "person"}
        records.add_warrant(
            session=session,
            principal=actor,
            person_id=people[spec["person"]],
            data=WarrantIn.model_validate(fields),
        )
    for spec in data["links"]:
        records.add_link(
            session=session,
            principal=actor,
            person_id=people[spec["a"]],
            data=LinkIn(other_id=people[spec["b"]], kind=LinkKind(spec["kind"]), note=spec["note"]),
        )
    return [f"records of {', '.join(s['name'] for s in specs)}"]


def _demo_users(*, session: Session, specs: list[dict[str, Any]]) -> list[DemoLogin]:
    """The demo districts' accounts (control room, e-challans), passwords generated, where names are free."""
    made = []
    for spec in specs:
        if users.find_by_username(session=session, username=spec["username"]) is not None:
            continue
        districts = [
            d for code in spec["districts"] if (d := org.district_by_code(session=session, code=code))
        ]
        password = passwords.generate_password()
        users.create_user(
            session=session,
            actor=SYSTEM,
            username=spec["username"],
            password=password,
            full_name=spec["full_name"],
            roles=spec["roles"],
            district_ids=frozenset(d.id for d in districts),
        )
        made.append(DemoLogin(spec["username"], spec["full_name"], tuple(spec["roles"]), password))
    return made


def _demo_cameras(
    *, session: Session, settings: Settings, actor: Principal, specs: list[dict[str, Any]]
) -> list[str]:
    """Cameras playing looped real footage; without the footage they are registered but stay offline."""
    clips: dict[str, Path] = {}
    for make in (make_clips, make_plate_clips):
        try:
            clips |= {path.stem: path for path in make(settings.data_dir / "demo")}
        except FileNotFoundError as exc:
            logger.warning("%s", exc)
    existing = {c.name for c in cameras.list_cameras(session=session, principal=actor)}
    box = cameras.credentials_box(settings)
    added = []
    for spec in specs:
        if spec["name"] in existing:
            continue
        district = org.district_by_code(session=session, code=spec["district"])
        if district is None:
            continue
        site = next(
            (
                s
                for s in org.list_sites(session=session, actor=actor, district_id=district.id)
                if s.name == spec["site"]
            ),
            None,
        )
        clip = clips.get(spec["clip"], settings.data_dir / "demo" / f"{spec['clip']}.mp4")
        data = CameraIn(
            name=spec["name"],
            district_id=district.id,
            site_id=site.id if site else None,
            latitude=spec["latitude"],
            longitude=spec["longitude"],
            bearing=spec["bearing"],
            field_of_view=spec["field_of_view"],
            stream_url=str(clip.resolve()),
            tags=spec["tags"],
            retention_days=7,
        )
        cameras.create_camera(session=session, principal=actor, box=box, settings=settings, data=data)
        added.append(spec["name"])
    return added
