"""The catalogue of named permissions that code checks; roles (data) are sets of these names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    name: str
    description: str
    # Criminal, biometric or personal data, or the power to grant access: whoever holds it must use MFA.
    sensitive: bool = False


CATALOGUE: tuple[Permission, ...] = (
    Permission("users.read", "See user accounts in one's districts"),
    Permission("users.manage", "Create, change and disable user accounts", sensitive=True),
    Permission("roles.manage", "Change which permissions a role grants", sensitive=True),
    Permission("org.read", "See districts, police stations and sites"),
    Permission("org.manage", "Change districts, police stations and sites"),
    Permission("audit.read", "Browse the access audit log", sensitive=True),
    Permission("tokens.manage", "Create and revoke one's own API tokens for machines"),
    Permission("cameras.read", "See cameras and their status"),
    Permission("cameras.manage", "Register, change and remove cameras"),
    Permission("cameras.own", "Register one's own premises and cameras (camera owners)"),
    Permission("analytics.manage", "Draw and change analytics rules on cameras"),
    Permission("video.live", "Watch live video"),
    Permission("video.playback", "Play back recorded video"),
    Permission("video.export", "Export clips as evidence", sensitive=True),
    Permission("alerts.read", "See the alert feed"),
    Permission("alerts.handle", "Acknowledge, dismiss and escalate alerts"),
    Permission("alerts.raise", "Raise alerts from another system (for machine API tokens)"),
    Permission("incidents.read", "See incidents"),
    Permission("incidents.manage", "Log calls, create and update incidents"),
    Permission("dispatch.manage", "Assign units to incidents"),
    Permission("kpis.read", "Read response-time figures"),
    Permission("metrics.read", "Scrape the Prometheus metrics (for monitoring API tokens)"),
    Permission("cluster.read", "See the workers that run the cameras, their load and health"),
    Permission("panic.report", "Report panic-button presses and positions (mobile app tokens)"),
    Permission("records.read", "Read criminal records: persons, vehicles, FIRs, warrants", sensitive=True),
    Permission("records.manage", "Change criminal records", sensitive=True),
    Permission("records.import", "Import persons and vehicles in bulk (CSV, SQL sources)", sensitive=True),
    Permission("records.merge", "Merge duplicate persons of the records, and undo merges", sensitive=True),
    Permission(
        "records.sensitive",
        "Read records of juveniles, victims and informants (with records.read)",
        sensitive=True,
    ),
    Permission(
        "records.review", "Review break-glass reads of records beyond one's districts", sensitive=True
    ),
    Permission("faces.search", "Search faces seen by the cameras by photo (retrospective)", sensitive=True),
    Permission("faces.read", "See face-match leads beside the enrolled photos", sensitive=True),
    Permission("faces.confirm", "Confirm or reject face-match leads (two people per match)", sensitive=True),
    Permission("faces.enrol", "Keep face watchlists and enrol persons' photos", sensitive=True),
    Permission("faces.authorise", "Approve or revoke authorisations for face recognition", sensitive=True),
    Permission("faces.oversee", "See the oversight report of face recognition", sensitive=True),
    Permission("plates.read", "Search plate reads and vehicle journeys, see hotlist hits", sensitive=True),
    Permission("hotlists.manage", "Keep hotlists of stolen and wanted vehicles", sensitive=True),
    Permission("traffic.read", "See traffic counts, speeds and congestion"),
    Permission("traffic.manage", "Calibrate speed measurement and define road segments"),
    Permission("challans.review", "Review traffic violations and issue e-challans", sensitive=True),
    Permission("challans.read", "See e-challans with their owners' particulars", sensitive=True),
    Permission("appeals.decide", "Hear appeals against e-challans and decide them", sensitive=True),
    Permission("payments.reconcile", "See payments and the daily reconciliation of challans", sensitive=True),
    Permission("fines.manage", "Change the fine schedule (every change audited)"),
    Permission("registry.lookup", "Look up vehicle owners in the registry, with a purpose", sensitive=True),
    Permission("registry.import", "Import extracts of the vehicle registry", sensitive=True),
    Permission(
        "connectors.manage", "Configure connectors to other departments and their credentials", sensitive=True
    ),
    Permission("signals.report", "Report traffic signals' states (signal controller tokens)"),
    Permission("forensics.investigate", "Search events, rebuild routes, build cases", sensitive=True),
    Permission("cases.share", "Share a case with another district's investigators", sensitive=True),
    Permission(
        "evidence.unredacted",
        "Approve exporting evidence without blurring bystanders (with a reason)",
        sensitive=True,
    ),
    Permission("video.unmask", "Lift a camera's privacy masks for a stated purpose", sensitive=True),
    Permission("units.self", "A unit's own terminal: set that unit's status and position"),
    Permission("cameras.review", "Check and approve or reject owners' cameras joining the network"),
)

BY_NAME: dict[str, Permission] = {p.name: p for p in CATALOGUE}
SENSITIVE: frozenset[str] = frozenset(p.name for p in CATALOGUE if p.sensitive)


def requires_mfa(permissions: frozenset[str]) -> bool:
    """Whether a holder of these permissions must pass a second factor."""
    return not permissions.isdisjoint(SENSITIVE)
