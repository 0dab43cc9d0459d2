"""The citizen portal: look-ups by plate and the owner's CNIC digits, the proof they give, public evidence,
appeals, and the QR code's verification.

No account: a look-up proves knowledge of the plate and the last four digits of the owner's CNIC, and is
answered with a short-lived token (sealed with a key derived from `secret_key`, so it is opaque and cannot
be forged) that every later page, picture and appeal of that look-up carries. Look-ups are throttled per
client address over a sliding minute counted from the audit log, so every web node sees the same count;
look-ups and appeals are audited with the actor "portal" and the client's address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from safecity.analytics.plates.hotlists.schemas import normalise_plate
from safecity.audit import service as audit
from safecity.auth.principal import Principal
from safecity.config import ChallanSettings
from safecity.core.crypto import SecretBox
from safecity.core.db import utcnow
from safecity.core.errors import InvalidInput, NotAuthenticated, NotFound, TooManyRequests
from safecity.core.storage import contained
from safecity.traffic.appeals import service as appeals
from safecity.traffic.appeals.models import Appeal
from safecity.traffic.challans.models import Challan, ChallanStatus
from safecity.traffic.violations.models import Offence, Violation

logger = logging.getLogger(__name__)

LOOKUP = "portal.lookup"
TOKEN_TTL = dt.timedelta(minutes=30)
WINDOW = dt.timedelta(minutes=1)
PUBLIC_ROLES = ("public_before", "public_at", "public_after")  # bystanders blurred: what citizens see
MAX_RESULTS = 100
TOKEN_PURPOSE = "portal-lookup"  # noqa: S105 - the key derivation's label, not a secret


def actor(client_addr: str | None) -> Principal:
    """Who acts on the portal: nobody logged in, recorded as "portal" with the client's address."""
    return Principal(
        user_id=None,
        username="portal",
        permissions=frozenset(),
        district_ids=None,
        client_addr=client_addr,
        via="system",
    )


# --- the look-up's proof ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    """What a look-up showed it knows: the plate and the last four digits of the owner's CNIC."""

    plate: str
    digits: str


class Tokens:
    """Seals and opens the portal's tokens (AES-GCM under a key of their own, with an expiry inside)."""

    def __init__(self, secret_key: str) -> None:
        self._box = SecretBox(secret_key, TOKEN_PURPOSE)

    def issue(self, proof: Proof, now: dt.datetime | None = None) -> str:
        """A token carrying `proof` until TOKEN_TTL from now."""
        expires = int(((now or utcnow()) + TOKEN_TTL).timestamp())
        return self._box.encrypt(json.dumps({"p": proof.plate, "d": proof.digits, "x": expires}))

    def open(self, token: str | None, now: dt.datetime | None = None) -> Proof:
        """The proof a token carries; NotAuthenticated `bad_link` if forged, `link_expired` if old."""
        if not token or len(token) > 512:
            raise NotAuthenticated("look up your challans first", code="bad_link")
        try:
            data: dict[str, Any] = json.loads(self._box.decrypt(token))
            proof, expires = Proof(str(data["p"]), str(data["d"])), int(data["x"])
        except (ValueError, KeyError, TypeError):
            raise NotAuthenticated("this address is not valid", code="bad_link") from None
        if (now or utcnow()).timestamp() > expires:
            raise NotAuthenticated("this page has expired: look up your challans again", code="link_expired")
        return proof


def read_lookup(plate: str, digits: str) -> Proof:
    """The plate (normalised) and four digits typed into the look-up form, or InvalidInput."""
    try:
        clean = normalise_plate(plate[:40])
    except ValueError:
        raise InvalidInput("enter the number plate in letters and digits", code="bad_plate") from None
    digits = digits.strip()
    if len(digits) != 4 or not digits.isascii() or not digits.isdigit():
        raise InvalidInput("enter the last four digits of the owner's CNIC", code="bad_digits")
    return Proof(clean, digits)


def _digits_match(owner_cnic: str, digits: str) -> bool:
    """Whether the CNIC's last four digits are `digits` (compared in constant time)."""
    last = "".join(c for c in owner_cnic if c.isdigit())[-4:]
    return len(last) == 4 and hmac.compare_digest(last.encode(), digits.encode())


# --- what the citizen sees --------------------------------------------------------------------------


@dataclass(frozen=True)
class PortalChallan:
    """A challan as the portal shows it: no owner particulars, only what the citizen needs."""

    number: str
    plate: str
    offence: Offence
    status: ChallanStatus
    amount_pkr: int
    issued_at: dt.datetime
    due_at: dt.datetime
    payment_ref: str
    occurred_at: dt.datetime
    place: str
    evidence_roles: list[str]
    can_appeal: bool
    appeal_closes_at: dt.datetime
    appeal: Appeal | None = field(default=None)


def _view(
    challan: Challan, violation: Violation, appeal: Appeal | None, settings: ChallanSettings, now: dt.datetime
) -> PortalChallan:
    evidence: dict[str, Any] = violation.evidence or {}
    roles = {f.get("role") for f in challan.public_evidence if isinstance(f, dict)}
    return PortalChallan(
        number=challan.number,
        plate=challan.plate,
        offence=challan.offence,
        status=challan.status,
        amount_pkr=challan.amount_pkr,
        issued_at=challan.issued_at,
        due_at=challan.due_at,
        payment_ref=challan.payment_ref,
        occurred_at=violation.occurred_at,
        place=str((evidence.get("camera") or {}).get("name") or ""),
        evidence_roles=[r for r in PUBLIC_ROLES if r in roles],
        can_appeal=appeal is None and appeals.appealable(challan, settings, now),
        appeal_closes_at=appeals.appeal_closes_at(challan, settings),
        appeal=appeal,
    )


def plate_query(plate: str, number: str | None = None) -> Select[Challan, Violation]:
    """The look-up's query: a plate's challans with their violations, newest first (the plate and status
    index answers the plate; a plate has a few challans, so they are sorted after).
    """
    query = (
        select(Challan, Violation)
        .join(Violation, Violation.id == Challan.violation_id)
        .where(Challan.plate == plate)  # ix_traffic_challans_plate_status
    )
    if number is not None:
        query = query.where(Challan.number == number)
    return query.order_by(Challan.issued_at.desc()).limit(MAX_RESULTS)


def _matching(session: Session, proof: Proof, number: str | None = None) -> list[tuple[Challan, Violation]]:
    """The plate's challans (newest first) whose owner's CNIC ends in the proof's digits."""
    rows = session.execute(plate_query(proof.plate, number))
    return [(c, v) for c, v in rows if _digits_match(c.owner_cnic, proof.digits)]


def _views(
    session: Session, rows: list[tuple[Challan, Violation]], settings: ChallanSettings
) -> list[PortalChallan]:
    ids = [c.id for c, _ in rows]
    found: list[Appeal] = (
        list(session.scalars(select(Appeal).where(Appeal.challan_id.in_(ids)))) if ids else []
    )
    by_challan = {a.challan_id: a for a in found}
    now = utcnow()
    return [_view(c, v, by_challan.get(c.id), settings, now) for c, v in rows]


def throttle(
    *, session: Session, client_addr: str | None, per_minute: int, now: dt.datetime | None = None
) -> None:
    """Refuse (429, audited) an address that looked up `per_minute` times in the last minute.

    The window slides over the audit log's look-ups of that address (found or not), so it holds across
    every web node; a refused look-up is recorded as denied and does not extend the wait.
    """
    if client_addr is None:
        return
    now = now or utcnow()
    recent = sorted(
        (
            at
            for outcome in ("success", "failure")
            for at in audit.recent_times(
                session=session,
                action=LOOKUP,
                outcome=outcome,
                client_addr=client_addr,
                since=now - WINDOW,
                limit=per_minute,
            )
        ),
        reverse=True,
    )[:per_minute]
    if len(recent) < per_minute:
        return
    retry_after = max(1, math.ceil((recent[-1] + WINDOW - now).total_seconds()))
    audit.record(
        session=session,
        action=LOOKUP,
        outcome="denied",
        actor=actor(client_addr),
        detail={"reason": "throttled", "retry_after": retry_after},
    )
    session.commit()
    raise TooManyRequests(
        f"too many look-ups from your address: try again in {retry_after} seconds",
        retry_after=retry_after,
        code="too_many_lookups",
    )


def lookup(
    *,
    session: Session,
    proof: Proof,
    settings: ChallanSettings,
    client_addr: str | None,
) -> list[PortalChallan]:
    """The challans of the plate whose owner's CNIC ends in the digits, after the throttle; audited (a
    look-up that finds nothing counts as a failure). The caller commits.
    """
    throttle(session=session, client_addr=client_addr, per_minute=settings.portal_lookups_per_minute)
    rows = _matching(session, proof)
    audit.record(
        session=session,
        action=LOOKUP,
        outcome="success" if rows else "failure",
        actor=actor(client_addr),
        object_type="plate",
        object_id=proof.plate,
        detail={"found": [c.number for c, _ in rows][:20]},
    )
    return _views(session, rows, settings)


def challans(*, session: Session, proof: Proof, settings: ChallanSettings) -> list[PortalChallan]:
    """The challans a look-up's token shows again (not counted by the throttle: it proves the look-up)."""
    return _views(session, _matching(session, proof), settings)


def challan(
    *, session: Session, proof: Proof, number: str, settings: ChallanSettings
) -> tuple[Challan, PortalChallan]:
    """One challan of the look-up (404 if the number is not one of its challans)."""
    rows = _matching(session, proof, number)
    if not rows:
        raise NotFound("no such challan for this look-up")
    return rows[0][0], _views(session, rows, settings)[0]


def public_evidence(*, session: Session, proof: Proof, number: str, role: str, evidence_dir: Path) -> bytes:
    """One of the blurred pictures (public_* roles only) of a challan of the look-up, checked by SHA-256."""
    if role not in PUBLIC_ROLES:
        raise NotFound("no such picture")
    rows = _matching(session, proof, number)
    if not rows:
        raise NotFound("no such challan for this look-up")
    challan = rows[0][0]
    entry = next((f for f in challan.public_evidence if isinstance(f, dict) and f.get("role") == role), None)
    path = contained(evidence_dir, str(entry.get("path", ""))) if entry else None
    try:
        data = path.read_bytes() if path is not None else None
    except OSError:
        data = None
    if data is None or entry is None:
        raise NotFound("no such picture")
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        logger.error("evidence %s of challan %s fails its SHA-256 check", role, challan.number)
        raise NotFound("no such picture")
    return data


# --- the QR code's verification ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """What the verification page tells anyone holding the printed challan: no owner particulars."""

    number: str
    issued_at: dt.datetime
    offence: Offence
    amount_pkr: int
    status: ChallanStatus


def verify(*, session: Session, number: str, code: str, client_addr: str | None = None) -> Verified | None:
    """The challan if `code` is its verify code (compared in constant time), else None; audited."""
    found = session.scalars(select(Challan).where(Challan.number == number[:32])).first() if number else None
    genuine = found is not None and hmac.compare_digest(found.verify_code.encode(), code[:64].encode())
    audit.record(
        session=session,
        action="portal.verify",
        outcome="success" if genuine else "failure",
        actor=actor(client_addr),
        object_type="challan",
        object_id=str(found.id) if found is not None else None,
        detail={"number": number[:32]},
    )
    if found is None or not genuine:
        return None
    return Verified(found.number, found.issued_at, found.offence, found.amount_pkr, found.status)


def appeal_reference(appeal_id: uuid.UUID) -> str:
    """A short reference a citizen can quote for their appeal."""
    return appeal_id.hex[:10].upper()
