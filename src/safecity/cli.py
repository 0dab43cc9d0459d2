"""The `safecity` command: serve, migrate, seed the demo, manage accounts and models, check the audit."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from safecity import migrations
from safecity.config import Settings, load_settings
from safecity.core.db import create_db_engine, create_session_factory, transaction
from safecity.core.errors import SafecityError
from safecity.core.logging import configure_logging

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from safecity.analytics.faces import evaluation as evaluation_module
    from safecity.analytics.faces.engine import FaceEngine
    from safecity.analytics.faces.types import Embedding
    from safecity.cameras.models import Camera
    from safecity.evidence.verify import TrustedKey

app = typer.Typer(
    help="safecity: Safe City platform (cameras, analytics, command and control).", no_args_is_help=True
)
admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
analytics_app = typer.Typer(
    help="Video analytics: try the detector and rules on pictures and footage.", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
app.add_typer(user_app, name="user")
app.add_typer(config_app, name="config")
app.add_typer(audit_app, name="audit")
app.add_typer(analytics_app, name="analytics")
plates_app = typer.Typer(help="Number plates (ANPR).", no_args_is_help=True)
app.add_typer(plates_app, name="plates")
faces_app = typer.Typer(
    help="Face recognition: compare pictures, measure error rates, purge faces that matched nothing.",
    no_args_is_help=True,
)
app.add_typer(faces_app, name="faces")
forensics_app = typer.Typer(
    help="Forensics: the objects the cameras followed, video synopses.", no_args_is_help=True
)
app.add_typer(forensics_app, name="forensics")
challans_app = typer.Typer(help="E-challans.", no_args_is_help=True)
app.add_typer(challans_app, name="challans")

console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error names a path: never broken across lines


def _settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:  # an invalid configuration is the operator's to fix: say what, not a traceback
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _require_current_schema(engine: Engine) -> None:
    if not migrations.is_current(engine):
        err.print("[red]error:[/red] the database schema is not up to date: run `safecity migrate` first")
        raise typer.Exit(2)


def _session_factory(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    from safecity.audit.chain import AuditChain

    return create_session_factory(engine, info=AuditChain.from_settings(settings).session_info())


@contextmanager
def _db(settings: Settings) -> Iterator[Session]:
    engine = create_db_engine(settings.effective_database_url)
    try:
        _require_current_schema(engine)
        with transaction(_session_factory(engine, settings)) as session:
            yield session
    except SafecityError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema and its reference data (roles, districts)."""
    from safecity import seed
    from safecity.audit.chain import chain_key
    from safecity.evidence.keys import service as evidence_keys

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        with console.status("Migrating the database…"):
            # The key lets an upgrade re-chain an audit log written before the chain was keyed.
            migrations.upgrade(engine, audit_key=chain_key(settings))
        with transaction(_session_factory(engine, settings)) as session:
            added = seed.reference_data(session=session)
            # The evidence-signing key is made at set-up, so its fingerprint can be published before use.
            evidence_keys.ensure_key(session=session, secret_key=settings.secret_key.get_secret_value())
    finally:
        engine.dispose()
    console.print(
        f"[green]Database is up to date.[/green] Reference data added: {added or 'none (already there)'}"
    )


@app.command()
def demo() -> None:
    """Seed the demo: Peshawar's police stations, sites and cameras (real footage), a red-light camera, the
    registry's demo vehicles, an administrator and the accounts of the control room and the e-challans."""
    from safecity import seed

    settings = _settings()
    with (
        _db(settings) as session,
        console.status("Seeding the demo (the first run encodes the demo footage)…"),
    ):
        report = seed.demo(session=session, settings=settings)
    console.print(f"[green]Demo ready.[/green] Added: {report.added or 'nothing new'}")
    if report.without_footage:
        console.print(f"[yellow]note:[/yellow] {seed.footage_hint(report.without_footage)}")
    if report.admin_password:
        console.print(
            f"\n[bold]Log in at {settings.web.base_url()}/login as [cyan]{report.admin_username}[/cyan] with "
            f"password [cyan]{report.admin_password}[/cyan][/bold]\n"
            "This password is shown once. At first login you set up two-step login with an authenticator app."
            "\n(The configured address: `safecity serve` prints the one it listens on.)"
        )
    else:
        console.print(
            f"The administrator '{report.admin_username}' already exists; "
            "`safecity admin create` makes another."
        )
    if report.logins:
        console.print(
            "\n[bold]Demo accounts in Peshawar[/bold] (control room and e-challans; passwords shown once, "
            "two-step login set up at the first login where the role needs it, as for the administrator):"
        )
        for login in report.logins:
            console.print(
                f"  [cyan]{login.username}[/cyan] ({', '.join(login.roles)}): password "
                f"[cyan]{login.password}[/cyan]",
                highlight=False,
            )
    console.print(f"\n{seed.challan_hint(settings.web.base_url())}", highlight=False)


@challans_app.command("purge-attachments")
def challans_purge_attachments() -> None:
    """Delete appeal attachment files that no appeal refers to (left by a crash before the appeal was
    stored), once older than challans.orphan_grace_s; audited with the count."""
    from safecity.traffic.appeals import service as appeals

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        _require_current_schema(engine)
        deleted = appeals.purge_orphans(
            session_factory=_session_factory(engine, settings),
            challans_dir=settings.challans_dir,
            grace_s=settings.challans.orphan_grace_s,
        )
    finally:
        engine.dispose()
    noun = "file" if deleted == 1 else "files"
    console.print(f"[green]Deleted {deleted} {noun}[/green] that no appeal refers to.")


@challans_app.command("pay-demo")
def challans_pay_demo(
    number: Annotated[str, typer.Argument(help="The challan's number, e.g. PSW-2026-000001.")],
    url: Annotated[
        str | None, typer.Option(help="The running server's address (default: the configured one).")
    ] = None,
) -> None:
    """Pay a challan in full as the demo bank would: a callback signed with the payment secret, sent to the
    running server (development mode only: a real bank signs with its own key).
    """
    import time

    import httpx

    from safecity.core.db import utcnow
    from safecity.traffic.payments import service as payments

    settings = _settings()
    secret = settings.challans.payment_secret
    if settings.mode != "development" or secret is None:
        err.print("[red]error:[/red] pay-demo works in development mode only; banks sign their own callbacks")
        raise typer.Exit(2)
    with _db(settings) as session:
        body = payments.demo_callback(session=session, number=number, now=utcnow())
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        payments.TIMESTAMP_HEADER: stamp,
        payments.SIGNATURE_HEADER: payments.sign(secret.get_secret_value(), stamp, body),
    }
    target = f"{(url or settings.web.base_url()).rstrip('/')}/api/v1/traffic/payments/callback"
    try:
        answer = httpx.post(target, content=body, headers=headers, timeout=10.0)
    except httpx.HTTPError as exc:
        err.print(
            f"[red]error:[/red] {target} does not answer ({type(exc).__name__}): is `safecity serve` running?"
        )
        raise typer.Exit(1) from exc
    try:
        said = answer.json()
    except ValueError:
        said = {"error": {"message": answer.text[:200]}}
    if not answer.is_success:
        problem = said.get("error", {}) if isinstance(said, dict) else {}
        err.print(
            f"[red]refused ({answer.status_code}):[/red] {problem.get('message', said)}", highlight=False
        )
        raise typer.Exit(1)
    console.print(
        f"[green]Paid.[/green] Challan {said['challan_number']} is {said['challan_status']} "
        f"(payment {said['payment_id']}{', a replay' if said.get('replayed') else ''}).",
        highlight=False,
    )


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default from configuration).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default from configuration).")] = None,
) -> None:
    """Serve the web UI and the REST API."""
    import uvicorn

    from safecity import seed
    from safecity.app import create_app

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    _require_current_schema(engine)
    with create_session_factory(engine)() as session:
        without_footage = seed.demo_cameras_without_footage(session=session, settings=settings)
    engine.dispose()
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    host, port = host or settings.web.host, port or settings.web.port
    served = settings.web.base_url(host=host, port=port)
    if settings.challans.public_url == settings.web.base_url() != served:
        # Challans link to the web's address: the one served here, as --host/--port say.
        challans = settings.challans.model_copy(update={"public_url": served})
        settings = settings.model_copy(update={"challans": challans})
    console.print(f"safecity is serving on http://{host}:{port}  (API docs: /api/docs; stop with Ctrl+C)")
    console.print(f"[bold]Log in at {settings.web.base_url(host=host, port=port)}/login[/bold]")
    if without_footage:
        console.print(f"[yellow]note:[/yellow] {seed.footage_hint(without_footage)}")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,  # open live feeds must not hold up a restart
    )


@app.command()
def worker(
    metrics_port: Annotated[
        int, typer.Option(help="Serve Prometheus /metrics (ingest, analytics) on this port; 0: none.")
    ] = 9464,
    worker_id: Annotated[
        str | None,
        typer.Option(help="This worker's id among the workers on NATS (default: configured, else host-pid)."),
    ] = None,
    capacity: Annotated[
        int | None, typer.Option(min=1, help="Cameras this worker may run at most (default: configured).")
    ] = None,
) -> None:
    """Run this machine's cameras (ingest, recording, retention, health alerts, analytics, traffic
    enforcement) without the UI. On the NATS bus the workers share the cameras through JetStream leases;
    on the memory bus this worker runs every camera."""
    import asyncio
    import signal

    from prometheus_client import start_http_server

    from safecity.analytics import flows as analytics_flows
    from safecity.cluster.leases import WorkerIdInUse, create_assignment
    from safecity.core.bus import create_bus
    from safecity.events import service as events
    from safecity.faces.service import biometric_box
    from safecity.forensics import flows as forensic_flows
    from safecity.runtime import analytics_for, violations_for
    from safecity.video.flows import VideoRuntime

    settings = _settings()
    cluster = settings.cluster.model_copy(
        update={k: v for k, v in {"worker_id": worker_id, "capacity": capacity}.items() if v is not None}
    )
    if worker_id is not None and not re.fullmatch(r"[-_.A-Za-z0-9]{1,100}", worker_id):
        err.print("[red]error:[/red] --worker-id takes letters, digits, '-', '_' and '.' (at most 100)")
        raise typer.Exit(2)
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    if metrics_port:
        # Loopback unless configured otherwise, like the web server: metrics name cameras.
        start_http_server(metrics_port, addr=settings.web.host)

    async def run() -> None:
        engine = create_db_engine(settings.effective_database_url)
        bus = create_bus(settings.bus_url.get_secret_value())
        await bus.start()
        session_factory = _session_factory(engine, settings)
        assignment = create_assignment(settings.bus_url.get_secret_value(), cluster)
        runtime = VideoRuntime(settings, session_factory, bus, assignment)
        analytics = analytics_for(settings, session_factory, bus, runtime)
        enforcement = violations_for(settings, session_factory, bus, runtime)
        try:
            await runtime.start()
        except BaseException:
            await bus.close()
            engine.dispose()
            raise
        if analytics is not None:
            await analytics.start()
        if enforcement is not None:
            await enforcement.start()
        owned = assignment.owned()
        console.print(
            f"safecity worker {assignment.worker_id} running "
            + (
                f"{len(runtime.supervisor.camera_ids())} cameras, "
                f"{len(analytics.cameras) if analytics else 0} with analytics"
                if owned is None
                else "the cameras its leases give it (see /admin/workers)"
            )
            + " (stop with Ctrl+C)"
        )
        # The stores' consumers run here too: a city of workers stores its events and plate reads even
        # while no web node runs (on the memory bus: those this worker could not store at once).
        stop_stores = asyncio.Event()
        stores = [
            asyncio.create_task(
                events.store_from_bus(bus=bus, session_factory=session_factory, stop=stop_stores)
            ),
            asyncio.create_task(
                analytics_flows.sightings_from_bus(bus=bus, session_factory=session_factory, stop=stop_stores)
            ),
            asyncio.create_task(
                forensic_flows.tracks_from_bus(bus=bus, session_factory=session_factory, stop=stop_stores)
            ),
            asyncio.create_task(
                analytics_flows.faces_from_bus(
                    bus=bus, session_factory=session_factory, box=biometric_box(settings), stop=stop_stores
                )
            ),
        ]
        # SIGTERM (systemctl stop) ends like Ctrl+C: cameras stopped and their leases handed over at once.
        done = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
        try:
            await done.wait()
        finally:
            if enforcement is not None:
                await enforcement.stop()
            if analytics is not None:
                await analytics.stop()
            await runtime.stop()
            stop_stores.set()  # after the cameras: what they published last is stored (or stays queued)
            await asyncio.gather(*stores)
            await bus.close()
            engine.dispose()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    except WorkerIdInUse as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from exc


@admin_app.command("create")
def admin_create(username: Annotated[str, typer.Argument(help="Username of the new administrator.")]) -> None:
    """Create a province-wide administrator with a generated password, printed once."""
    from safecity.auth import service as users

    with _db(_settings()) as session:
        _user, password = users.create_admin(session=session, username=username)
    console.print(
        f"Administrator [cyan]{username}[/cyan] created. Password (shown once): [cyan]{password}[/cyan]"
    )


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Username of the new account.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help="A role to grant (repeatable).")],
    district: Annotated[
        list[str] | None, typer.Option("--district", "-d", help="District code, e.g. PSW (repeatable).")
    ] = None,
    province_wide: Annotated[bool, typer.Option(help="Scope the account to the whole province.")] = False,
    full_name: Annotated[str, typer.Option(help="The person's name.")] = "",
    agency: Annotated[
        str | None, typer.Option(help="The agency the person works for (police, rescue1122, fire, …).")
    ] = None,
) -> None:
    """Create an account with roles and districts; its generated password is printed once."""
    from safecity.auth import passwords
    from safecity.auth import service as users
    from safecity.auth.principal import SYSTEM
    from safecity.incidents.sharing import service as sharing
    from safecity.org import service as org

    if province_wide == bool(district):
        err.print("[red]error:[/red] give --district (one or more) or --province-wide")
        raise typer.Exit(2)
    password = passwords.generate_password()
    with _db(_settings()) as session:
        scope = None
        if not province_wide:
            found = {code: org.district_by_code(session=session, code=code) for code in district or []}
            missing = [code for code, d in found.items() if d is None]
            if missing:
                err.print(f"[red]error:[/red] unknown district code(s): {', '.join(missing)}")
                raise typer.Exit(2)
            scope = frozenset(d.id for d in found.values() if d is not None)
        user = users.create_user(
            session=session,
            actor=SYSTEM,
            username=username,
            password=password,
            full_name=full_name,
            roles=role,
            district_ids=scope,
        )
        if agency:
            sharing.set_user_agency(session=session, actor=SYSTEM, user_id=user.id, agency_code=agency)
    console.print(f"User [cyan]{username}[/cyan] created. Password (shown once): [cyan]{password}[/cyan]")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="Username to disable.")]) -> None:
    """Disable an account at once, ending its sessions and API tokens."""
    from safecity.auth import service as users
    from safecity.auth.principal import SYSTEM

    with _db(_settings()) as session:
        user = users.find_by_username(session=session, username=username)
        if user is None:
            err.print(f"[red]error:[/red] no user named '{username}'")
            raise typer.Exit(1)
        users.set_active(session=session, actor=SYSTEM, user_id=user.id, active=False)
    console.print(f"User [cyan]{username}[/cyan] disabled; their sessions and tokens have ended.")


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration, secrets masked."""
    console.print_json(json.dumps(_settings().redacted()))


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's keyed chain against its checkpoints; exits 1 on any edit, deletion or rewind."""
    from safecity.audit import service as audit

    with _db(_settings()) as session, console.status("Checking the audit chain…"):
        report = audit.verify(session=session)
    if report.ok:
        console.print(
            f"[green]The audit chain is intact:[/green] {report.checked} entries checked "
            f"against {report.checkpoints} checkpoints."
        )
        if report.checked and not report.checkpoints:
            console.print(
                "[yellow]No checkpoint vouched for the end of the log yet; one is written now.[/yellow]"
            )
        return
    table = Table(
        "seq", "problem", title=f"Tampering found in {report.checked} entries", title_style="bold red"
    )
    for problem in report.problems:
        table.add_row(str(problem.seq), problem.reason)
    console.print(table)
    raise typer.Exit(1)


# --- evidence: signed packages and the keys that sign them ------------------------------------------

evidence_app = typer.Typer(
    help="Evidence packages: verify one offline; the keys that sign them.", no_args_is_help=True
)
evidence_keys_app = typer.Typer(
    help="The deployment's evidence-signing keys (Ed25519).", no_args_is_help=True
)
evidence_app.add_typer(evidence_keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")


def _deployment_keys() -> list[TrustedKey]:
    """This deployment's keys from its database, when one is configured and reachable; else none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from safecity.evidence.keys import service as evidence_keys

    try:
        settings = load_settings()
    except ValueError:
        return []
    url = settings.effective_database_url
    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and (not database or not Path(database).is_file()):
        return []  # no deployment here: never create an empty database on the checker's machine
    engine = create_db_engine(url)
    try:
        if not migrations.is_current(engine):
            return []
        with _session_factory(engine, settings)() as session:
            return evidence_keys.trusted_keys(session=session)
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


@evidence_app.command("verify")
def evidence_verify(
    package: Annotated[Path, typer.Argument(help="The evidence package (ZIP) to check.")],
    keyring: Annotated[
        Path | None,
        typer.Option(help="The deployment's public keys (keys.json from its /evidence/verify page)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check an evidence package offline: signature, trusted key, every file's SHA-256 and size, the
    custody log, nothing added or removed. Exits 0 when every check passes, 1 otherwise."""
    from safecity.evidence import verify as verifier

    if keyring is not None:
        try:
            trusted = verifier.load_keyring(keyring.read_bytes())
        except (OSError, verifier.KeyringError) as exc:
            err.print(f"[red]error:[/red] the keyring {keyring}: {exc}")
            raise typer.Exit(2) from exc
    else:
        trusted = _deployment_keys()
    report = verifier.verify(package, trusted)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for check in report.checks:
            mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {check.message}", markup=True, highlight=False, soft_wrap=True)
        if report.ok:
            console.print(
                f"[bold green]VERIFIED:[/bold green] every check passed ({len(report.checks)} checks)."
            )
        else:
            console.print(f"[bold red]NOT VERIFIED:[/bold red] {len(report.failures)} check(s) failed.")
    if not report.ok:
        raise typer.Exit(1)


@evidence_keys_app.command("list")
def evidence_keys_list() -> None:
    """List the signing keys: fingerprint, created, retired (the active one first)."""
    from safecity.evidence.keys import service as evidence_keys
    from safecity.evidence.package import short

    with _db(_settings()) as session:
        keys = evidence_keys.list_keys(session=session)
        table = Table("fingerprint (compare)", "created (UTC)", "state", "full fingerprint")
        for key in keys:
            state = "active" if key.active else f"retired {key.retired_at:%Y-%m-%d %H:%M}"
            table.add_row(short(key.fingerprint), f"{key.created_at:%Y-%m-%d %H:%M}", state, key.fingerprint)
    if not keys:
        console.print("No signing key yet: `safecity migrate` creates one (or the first export does).")
        return
    console.print(table, soft_wrap=True)


@evidence_keys_app.command("rotate")
def evidence_keys_rotate(
    reason: Annotated[str | None, typer.Option(help="Why (recorded in the audit log).")] = None,
) -> None:
    """Retire the active signing key (kept, so what it signed still verifies) and create a new one."""
    from safecity.auth.principal import SYSTEM
    from safecity.evidence.keys import service as evidence_keys
    from safecity.evidence.package import short

    settings = _settings()
    with _db(settings) as session:
        old = evidence_keys.active(session=session)
        key = evidence_keys.rotate(
            session=session, secret_key=settings.secret_key.get_secret_value(), actor=SYSTEM, reason=reason
        )
        new, retired = key.fingerprint, old.fingerprint if old is not None else None
    if retired:
        console.print(f"Retired key {short(retired)} (kept for verifying what it signed).")
    console.print(
        f"[green]New signing key:[/green] {short(new)}  (full: {new})\n"
        "Publish the new keyring (`safecity evidence keys export keys.json`, or /evidence/keys.json)."
    )


@evidence_keys_app.command("export")
def evidence_keys_export(
    file: Annotated[Path, typer.Argument(help="Where to write the keyring (JSON, public keys only).")],
) -> None:
    """Write the public keyring (every key, active and retired) for verifiers: --keyring of verify."""
    from safecity.evidence.keys import service as evidence_keys

    with _db(_settings()) as session:
        document = evidence_keys.keyring_json(session=session)
        count = len(evidence_keys.list_keys(session=session))
    if not count:
        err.print("[red]error:[/red] no signing key yet: run `safecity migrate` first")
        raise typer.Exit(1)
    file.write_text(document, encoding="utf-8")
    console.print(f"Wrote {count} public key(s) to {file}.")


@app.command()
def models() -> None:
    """List the AI models: source package, licence, and whether each file matches its checksum."""
    from rich.markup import escape

    from safecity.analytics import catalog

    summary = Table("model", "package", "licence", "status", title="AI models")
    files = Table("model", "file", title="Model files (checked at every load)")
    files.add_column("SHA-256", overflow="fold")
    problems: list[str] = []
    with console.status("Checking model checksums…"):
        for model in catalog.MODELS:
            try:
                catalog.locate(model)
                status = "[green]ok[/green]"
            except catalog.ModelUnavailable as exc:
                status = "[red]unusable[/red]"
                problems.append(str(exc))
            summary.add_row(
                f"{model.name}\n[dim]{escape(model.provenance)}[/dim]",
                model.distribution,
                model.licence,
                status,
            )
            for file in model.files:
                files.add_row(model.name, file.path, file.sha256)
    console.print(summary, files)
    for problem in problems:
        console.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
    if problems:
        raise typer.Exit(1)


def _camera(session: Session, camera: str) -> Camera:
    """The camera a command names by id; exit 1 with a clear message if there is none."""
    from rich.markup import escape

    from safecity.cameras.models import Camera

    try:
        camera_id = uuid.UUID(camera)
    except ValueError:
        err.print(f"[red]error:[/red] {escape(camera)!r} is not a camera id (a UUID)")
        raise typer.Exit(1) from None
    found = session.get(Camera, camera_id)
    if found is None:
        err.print(f"[red]error:[/red] no camera with id {camera_id}")
        raise typer.Exit(1)
    return found


@analytics_app.command("replay")
def analytics_replay(
    video: Annotated[Path, typer.Argument(help="A video file (MP4, AVI, MKV …).")],
    camera: Annotated[str, typer.Option("--camera", help="The id of the camera whose stored rules to run.")],
    speed: Annotated[
        float,
        typer.Option(min=0, help="1.0: the video's pace; 2.0: twice as fast; 0: as fast as possible."),
    ] = 1.0,
    json_lines: Annotated[bool, typer.Option("--json", help="Print one JSON object per event.")] = False,
) -> None:
    """Run a camera's rules over a video file and print what fires; nothing is stored or published.

    The frames are detected as the camera's live analytics detect them: with its own detector settings
    (tiles, input size, classes, scores) where it has them, else the global ones.
    """
    from rich.markup import escape

    from safecity.analytics import service as analytics
    from safecity.analytics.flows import configured_detector
    from safecity.analytics.pipeline import CameraInfo
    from safecity.analytics.replay import ReplayEvent, UnreadableVideo, check_video, file_pictures, replay
    from safecity.core.db import utcnow

    settings = _settings()
    with _db(settings) as session:
        found = _camera(session, camera)
        info = CameraInfo(found.id, found.name, found.district_id)
        rules = analytics.rules_for_camera(session=session, camera_id=found.id)
        detection = analytics.detection_configs(
            session=session, camera_ids={found.id}, defaults=settings.analytics
        )[found.id]
    if not rules:
        err.print(f"[red]error:[/red] camera {escape(info.name)!r} has no enabled rules to replay")
        raise typer.Exit(1)

    def show(event: ReplayEvent) -> None:
        if json_lines:
            typer.echo(json.dumps(event.as_json()))
            return
        what = " ".join(x for x in (event.class_name, event.direction) if x)
        console.print(
            f"{event.offset_s:8.2f} s  {escape(event.rule_name)} ({event.kind})  track {event.track_id}  "
            f"{what}",
            highlight=False,
        )

    try:
        check_video(video)
        detector = configured_detector(settings.analytics)
        result = replay(
            file_pictures(video, fps=settings.video.analytics_fps, start=utcnow()),
            camera=info,
            rules=rules,
            detector=detector,
            settings=settings,
            on_event=show,
            detection=detection,
            speed=speed,
        )
    except UnreadableVideo as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    err.print(f"{result.frames} frames replayed, {result.events} events.", highlight=False)
    for rule_id, config in rules:
        if config.kind == "counting_line":
            err.print(f"{escape(config.name)}: {json.dumps(result.totals(rule_id))}", highlight=False)


def _read_picture(path: Path) -> npt.NDArray[np.uint8] | None:
    """The picture in `path` as BGR pixels, or None after saying on stderr that it is not one."""
    import cv2
    import numpy as np
    from rich.markup import escape

    picture = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if picture is None or min(picture.shape[:2]) < 16:
        err.print(f"[red]error:[/red] {escape(str(path))}: not a readable picture")
        return None
    return np.asarray(picture, dtype=np.uint8)


@analytics_app.command("detect")
def analytics_detect(
    images: Annotated[list[Path], typer.Argument(help="Picture files (JPEG, PNG, ...).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per image.")] = False,
    camera: Annotated[
        str | None,
        typer.Option(
            "--camera", help="Detect with this camera's detector settings (default: the global ones)."
        ),
    ] = None,
) -> None:
    """What the configured pipeline finds in still pictures (detector with tiles, riders, colour).

    With --json, exactly one line per image:

    {"image": "<path as given>", "width": W, "height": H, "detections": [{"class": "car", "score": 0.87,
    "box": \\[x1, y1, x2, y2], "colour": "red", "colour_confidence": 0.71}, ...]}

    Boxes in whole pixels, x2/y2 exclusive; colour is null where not measured. A file that cannot be read
    as a picture is named on stderr, the others are still processed, and the exit code is 1.
    """
    from safecity.analytics.detectors import check_image
    from safecity.analytics.flows import configured_detector
    from safecity.analytics.types import class_name

    settings = _settings()
    detection = None
    if camera is not None:
        from safecity.analytics import service as analytics

        with _db(settings) as session:
            camera_id = _camera(session, camera).id
            detection = analytics.detection_configs(
                session=session, camera_ids={camera_id}, defaults=settings.analytics
            )[camera_id]
    detector = configured_detector(settings.analytics)
    failed = False
    for path in images:
        image = _read_picture(path)
        if image is None:
            failed = True
            continue
        found = detector.detect(check_image(image), detection)
        height, width = image.shape[:2]
        rows = [
            {
                "class": class_name(int(c)),
                "score": round(float(s), 3),
                "box": [
                    max(0, min(limit, round(float(v))))
                    for v, limit in zip(b, (width, height) * 2, strict=True)
                ],
                "colour": a.get("colour"),
                "colour_confidence": a.get("colour_confidence", 0.0),
            }
            for b, s, c, a in zip(found.boxes, found.scores, found.classes, found.attributes, strict=True)
        ]
        if as_json:
            line = {"image": str(path), "width": width, "height": height, "detections": rows}
            typer.echo(json.dumps(line))
            continue
        table = Table(title=f"{path} ({width}x{height}): {len(rows)} objects")
        for column in ("class", "score", "box", "colour"):
            table.add_column(column)
        for row in rows:
            colour = f"{row['colour']} ({row['colour_confidence']:.2f})" if row["colour"] else "-"
            table.add_row(str(row["class"]), f"{row['score']:.2f}", str(row["box"]), colour)
        console.print(table)
    if failed:
        raise typer.Exit(1)


@plates_app.command("read")
def plates_read(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG …).")],
    region: Annotated[
        str, typer.Option(help="Whose plate layouts are preferred: PK, IN, AR, DZ or ANY.")
    ] = "PK",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per image.")] = False,
) -> None:
    """Read the number plates in still images.

    With --json, exactly one line per image: {"image": "<path as given>", "plates": [{"text": "LEA1234",
    "confidence": 0.93, "box": [x, y, w, h], "layout": "punjab-universal", "jurisdiction": "Punjab"}]}.
    text is upper case without separators, or null when the plate is below the confidence floor
    (unreadable, never guessed); box is x, y, width, height in pixels. A file that cannot be read as an
    image is named on stderr, the others are still read, and the exit status is 1.
    """
    from safecity.analytics.plates import build_reader

    region = region.upper()
    if region not in ("PK", "IN", "AR", "DZ", "ANY"):
        raise typer.BadParameter("use PK, IN, AR, DZ or ANY", param_hint="--region")
    reader = build_reader({"type": "rapidocr", "region": region})
    failed = False
    for image in images:
        picture = _read_picture(image)
        if picture is None:
            failed = True
            continue
        plates = reader.read(picture)
        if as_json:
            record = {"image": str(image), "plates": [p.as_json() for p in plates]}
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        table = Table("plate", "confidence", "box (x, y, w, h)", "layout", "jurisdiction", title=str(image))
        for plate in plates:
            table.add_row(
                plate.text or "[red]unreadable[/red]",
                f"{plate.confidence:.2f}",
                ", ".join(map(str, plate.box)),
                plate.layout,
                plate.jurisdiction,
            )
        console.print(table if plates else f"{image}: no plate found")
    if failed:
        raise typer.Exit(1)


def _pairs_from_csv(path: Path) -> list[tuple[str, Path]]:
    """The picture pairs of a CSV: (the paths as written, the files they name), header row skipped.

    Relative paths are tried as given first, then against the CSV's folder.
    """
    import csv

    with path.open(newline="", encoding="utf-8-sig") as stream:
        rows = [row for row in csv.reader(stream) if row and any(cell.strip() for cell in row)]
    if rows and len(rows[0]) >= 2 and _is_header(rows[0][:2], path.parent):
        rows = rows[1:]
    pairs = []
    for number, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise typer.BadParameter(f"row {number}: needs two picture paths", param_hint="--pairs")
        for cell in row[:2]:
            given = cell.strip()
            candidate = Path(given)
            if not candidate.is_absolute() and not candidate.exists():
                candidate = path.parent / candidate
            pairs.append((given, candidate))
    return pairs


def _best_face(engine: FaceEngine, path: Path) -> tuple[int, Embedding | None]:
    """The faces in a picture file and the embedding of the most prominent; (-1, None) if unreadable."""
    from rich.markup import escape

    from safecity.analytics.detectors.base import InvalidFrame

    picture = _read_picture(path)
    if picture is None:
        return -1, None
    try:
        return engine.best(picture)
    except InvalidFrame as exc:  # a picture too large to be a photo: refused like an unreadable one
        err.print(f"[red]error:[/red] {escape(str(path))}: {escape(str(exc))}")
        return -1, None


def _is_header(cells: list[str], folder: Path) -> bool:
    """A first row naming no file and looking like column names (file_a, image1 …), not paths."""
    if any(Path(c.strip()).exists() or (folder / c.strip()).exists() for c in cells):
        return False
    return all(re.fullmatch(r"[A-Za-z_][\w ]*", c.strip()) is not None for c in cells)


@faces_app.command("compare")
def faces_compare(
    pictures: Annotated[
        list[Path] | None, typer.Argument(help="Two pictures A B (or none with --pairs).", show_default=False)
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="A CSV of picture pairs: the first two columns are paths (relative ones are tried as given, "
            "then against the CSV's folder); a header row is recognised; other columns are ignored.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per pair.")] = False,
) -> None:
    """Compare the most prominent face of two pictures: the same person or not.

    With --json, exactly one line per pair: {"a": "<path as given>", "b": "<path as given>", "score": 0.95,
    "same_person": true, "threshold": 0.92, "faces_found": [1, 1]}. score is the cosine similarity of the
    two faces' embeddings (1 identical), or null when either picture shows no face or cannot be read;
    same_person is true only when score is at least threshold (faces.threshold). faces_found counts the
    faces in each picture, -1 for a picture that could not be read (that pair's score is null and
    same_person false: nothing was compared). An unreadable picture is named on stderr, every other pair
    is still compared, and the exit status is 1.
    """
    from safecity.analytics.faces.engine import FaceEngine

    if pairs is not None and pictures:
        raise typer.BadParameter("give two pictures or --pairs, not both")
    if pairs is None and (not pictures or len(pictures) != 2):
        raise typer.BadParameter("give two pictures A B, or --pairs FILE")
    named = _pairs_from_csv(pairs) if pairs is not None else [(str(p), p) for p in pictures or []]
    engine = FaceEngine(_settings().faces)
    seen: dict[Path, tuple[int, Embedding | None]] = {}  # each picture analysed once, however often named

    def analysed(path: Path) -> tuple[int, Embedding | None]:
        if path not in seen:
            seen[path] = _best_face(engine, path)
        return seen[path]

    table = Table("A", "B", "score", "same person", "faces found", title=f"threshold {engine.threshold:.3f}")
    failed = False
    for (given_a, path_a), (given_b, path_b) in zip(named[::2], named[1::2], strict=True):
        (found_a, first), (found_b, second) = analysed(path_a), analysed(path_b)
        failed = failed or found_a < 0 or found_b < 0
        score = None if first is None or second is None else round(engine.score(first, second), 6)
        same = score is not None and score >= engine.threshold
        if as_json:
            record = {
                "a": given_a,
                "b": given_b,
                "score": score,
                "same_person": same,
                "threshold": engine.threshold,
                "faces_found": [found_a, found_b],
            }
            typer.echo(json.dumps(record))
            continue
        shown = "-" if score is None else f"{score:.3f}"
        table.add_row(given_a, given_b, shown, "yes" if same else "no", f"{found_a}, {found_b}")
    if not as_json:
        console.print(table)
    if failed:
        raise typer.Exit(1)


@faces_app.command("evaluate")
def faces_evaluate(
    folder: Annotated[
        Path, typer.Argument(help="Pictures with labels.csv (file,identity[,group]), optionally pairs.csv.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="The figures as one JSON object.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for drawn different-identity pairs and the folds.")] = 0,
    publish: Annotated[
        str | None,
        typer.Option(help="Publish the figures on /faces/rates under this name of the set (audited)."),
    ] = None,
) -> None:
    """Measure verification error rates on a labelled set of pictures (progress on stderr).

    Without pairs.csv every same-identity pair is compared, with as many different-identity pairs drawn
    at random. Prints accuracy at the configured threshold and 10-fold cross-validated, TAR at FAR 1 % and
    0.1 %, false match and false non-match rates, and these per group when labels.csv has a group column.
    With --json one object (see analytics/faces/evaluation.py, Evaluation). A picture that cannot be read
    is named on stderr and the exit status is 1 (no figures).
    """
    from rich.progress import Progress

    from safecity.analytics.faces import evaluation
    from safecity.analytics.faces.engine import FaceEngine

    try:
        dataset = evaluation.load_set(folder, seed=seed)
    except (evaluation.EvaluationSetError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    settings = _settings()
    engine = FaceEngine(settings.faces)
    embeddings: dict[str, Embedding | None] = {}
    failed = False
    files = dataset.files()
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("analysing pictures", total=len(files))
        for name in files:
            found, embeddings[name] = _best_face(engine, folder / name)
            failed = failed or found < 0
            progress.advance(task)
    if failed:
        raise typer.Exit(1)
    scores = []
    for pair in dataset.pairs:
        first, second = embeddings[pair.a], embeddings[pair.b]
        scores.append(None if first is None or second is None else engine.score(first, second))
    result = evaluation.evaluate(
        scores,
        [p.same for p in dataset.pairs],
        threshold=engine.threshold,
        groups=evaluation.pair_groups(dataset),
        seed=seed,
    )
    if publish is not None:
        from safecity.faces import service as faces

        with _db(settings) as session:
            faces.publish_evaluation(
                session=session, principal=None, result=result.as_json(), dataset=publish
            )
        err.print(f"published on /faces/rates as {publish!r}")
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    _print_evaluation(result)


def _print_evaluation(result: evaluation_module.Evaluation) -> None:
    """The evaluation as two readable tables."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.2f} %"

    def thr(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    table = Table("figure", "value", title="Face verification")
    table.add_row(
        "pairs (genuine / impostor)", f"{result.pairs} ({result.genuine_pairs} / {result.impostor_pairs})"
    )
    table.add_row("pairs without a face", str(result.pairs_without_face))
    table.add_row("configured threshold", thr(result.threshold))
    table.add_row("accuracy at the threshold", pct(result.accuracy))
    table.add_row("false match rate (FMR)", pct(result.fmr))
    table.add_row("false non-match rate (FNMR)", pct(result.fnmr))
    table.add_row("10-fold accuracy", f"{pct(result.cv_accuracy)} ± {pct(result.cv_accuracy_std)}")
    table.add_row("10-fold threshold", thr(result.cv_threshold))
    table.add_row(
        "TAR at FAR 1 %", f"{pct(result.tar_at_far_1pct)} (threshold {thr(result.threshold_at_far_1pct)})"
    )
    table.add_row(
        "TAR at FAR 0.1 %",
        f"{pct(result.tar_at_far_0_1pct)} (threshold {thr(result.threshold_at_far_0_1pct)})",
    )
    console.print(table)
    if result.groups:
        groups = Table("group", "pairs", "accuracy", "FMR", "FNMR", title="Per group, at the threshold")
        for g in result.groups:
            groups.add_row(g.group, str(g.pairs), pct(g.accuracy), pct(g.fmr), pct(g.fnmr))
        console.print(groups)


@plates_app.command("purge")
def plates_purge() -> None:
    """Delete plate sightings older than plates.retention_days, with their pictures, unless held."""
    from safecity.analytics.plates import service as plates
    from safecity.core.db import utcnow

    settings = _settings()
    days = settings.plates.retention_days
    engine = create_db_engine(settings.effective_database_url)
    try:
        _require_current_schema(engine)
        with console.status("Deleting expired plate sightings…"):
            deleted = plates.purge(
                session_factory=_session_factory(engine, settings),
                snapshots_dir=settings.snapshots_dir,
                retention_days=days,
                now=utcnow(),
            )
    finally:
        engine.dispose()
    noun = "sighting" if deleted == 1 else "sightings"
    console.print(f"[green]Deleted {deleted} {noun}[/green] older than {days} days (held ones are kept).")


@faces_app.command("purge")
def faces_purge() -> None:
    """Delete faces the cameras saw that matched nothing, once faces.unmatched_retention_hours have passed."""
    from safecity.faces.matches import service as face_sightings

    settings = _settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        _require_current_schema(engine)
        with console.status("Deleting faces past their time…"):
            deleted = face_sightings.purge(session_factory=_session_factory(engine, settings))
    finally:
        engine.dispose()
    noun = "face" if deleted == 1 else "faces"
    console.print(f"[green]Deleted {deleted} {noun}[/green] past their time (faces of leads are kept).")


@forensics_app.command("purge")
def forensics_purge() -> None:
    """Delete objects older than forensics.track_retention_days with their pictures (unless a case refers to
    them), and finished synopses older than forensics.synopsis_retention_days with their files."""
    from safecity.core.db import utcnow
    from safecity.forensics import service as forensics
    from safecity.forensics.synopsis import service as synopsis

    settings = _settings()
    days = settings.forensics
    engine = create_db_engine(settings.effective_database_url)
    try:
        _require_current_schema(engine)
        session_factory = _session_factory(engine, settings)
        with console.status("Deleting expired objects and synopses…"):
            tracks = forensics.purge(
                session_factory=session_factory,
                snapshots_dir=settings.snapshots_dir,
                retention_days=days.track_retention_days,
                now=utcnow(),
            )
            synopses = synopsis.purge(
                session_factory=session_factory,
                synopses_dir=settings.synopses_dir,
                retention_days=days.synopsis_retention_days,
                now=utcnow(),
            )
    finally:
        engine.dispose()
    console.print(
        f"[green]Deleted {tracks} objects[/green] older than {days.track_retention_days} days (those of cases"
        f" are kept) [green]and {synopses} synopses[/green] older than {days.synopsis_retention_days} days."
    )


i18n_app = typer.Typer(
    help="The interface's translations (gettext catalogs under web/locale).", no_args_is_help=True
)
app.add_typer(i18n_app, name="i18n")


@i18n_app.command("extract")
def i18n_extract() -> None:
    """Collect the wrapped strings into safecity.pot and merge them into every language's .po file."""
    from safecity.web import i18n_catalogs

    for path, missing in i18n_catalogs.extract_all().items():
        state = "[green]complete[/green]" if not missing else f"[yellow]{missing} to translate[/yellow]"
        console.print(f"{path}: {state}")


@i18n_app.command("check")
def i18n_check() -> None:
    """Fail when a catalog does not parse or lacks a translation of a wrapped string."""
    from safecity.web import i18n_catalogs

    found = i18n_catalogs.problems()
    for problem in found:
        console.print(problem, markup=False, highlight=False)
    if found:
        raise typer.Exit(1)
    console.print("[green]Every wrapped string is translated.[/green]")
