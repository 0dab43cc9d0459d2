"""Telling the citizen an appeal's decision, in the appeal's language, through the challans' one sender."""

# ruff: noqa: RUF001 - Urdu sentences end with the Urdu full stop (U+06D4), as they should

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session, sessionmaker

from safecity.config import ChallanSettings
from safecity.traffic.appeals import service
from safecity.traffic.appeals.models import Appeal, AppealStatus
from safecity.traffic.challans import messaging
from safecity.traffic.challans.models import Challan, Delivery

logger = logging.getLogger(__name__)


_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "cancelled": "cancelled: you need not pay it",
        "upheld": "upheld: the challan stands and is to be paid",
        "sms": "Your appeal against e-challan {number} was decided: {outcome}. Reasons: {reason}",
        "subject": "Decision on your appeal against e-challan {number}",
        "body": (
            "Your appeal against e-challan {number} (vehicle {plate}) has been decided.\n\n"
            "Decision: {outcome}.\n\nReasons given by the adjudicating officer:\n{reason}\n\n"
            "You can see the challan on the citizen portal: {portal}\n"
        ),
    },
    "ur": {
        "cancelled": "منسوخ: آپ کو یہ ادا نہیں کرنا",
        "upheld": "برقرار: چالان قائم ہے اور ادا کرنا ہے",
        "sms": "ای چالان {number} کے خلاف آپ کی اپیل کا فیصلہ: {outcome}۔ وجوہات: {reason}",
        "subject": "ای چالان {number} کے خلاف آپ کی اپیل کا فیصلہ",
        "body": (
            "ای چالان {number} (گاڑی {plate}) کے خلاف آپ کی اپیل کا فیصلہ ہو گیا ہے۔\n\n"
            "فیصلہ: {outcome}۔\n\nفیصلہ کرنے والے افسر کی وجوہات:\n{reason}\n\n"
            "چالان شہری پورٹل پر دیکھیں: {portal}\n"
        ),
    },
}
SMS_REASON_CHARS = 300  # an SMS carries the start of the reasons; the e-mail carries them all


def decision_notice(appeal: Appeal, challan: Challan, settings: ChallanSettings) -> messaging.Notice:
    """The decision as an SMS and an e-mail in the appeal's language."""
    texts = _TEXTS.get(appeal.language, _TEXTS["en"])
    fields = {
        "number": challan.number,
        "plate": challan.plate,
        "outcome": texts[appeal.status.value],
        "portal": f"{settings.public_url.rstrip('/')}/portal?lang={appeal.language}",
    }
    reason = appeal.decision_reason
    short = reason if len(reason) <= SMS_REASON_CHARS else reason[: SMS_REASON_CHARS - 1] + "…"
    return messaging.Notice(
        purpose=service.DECISION,
        sms=texts["sms"].format(**fields, reason=short),
        subject=texts["subject"].format(**fields),
        body=texts["body"].format(**fields, reason=reason),
    )


async def send_decision(
    *, session_factory: sessionmaker[Session], settings: ChallanSettings, appeal_id: uuid.UUID
) -> list[Delivery]:
    """Send a decided appeal's decision to the contact given with the appeal; the attempts are recorded
    as the challan's Delivery rows (purpose `appeal_decision`).
    """
    with session_factory() as session:
        appeal = session.get(Appeal, appeal_id)
        challan = session.get(Challan, appeal.challan_id) if appeal is not None else None
        if appeal is None or challan is None or appeal.status is AppealStatus.PENDING:
            logger.warning("appeal %s: no decision to send", appeal_id)
            return []
        notice = decision_notice(appeal, challan, settings)
        # The decision goes to whoever appealed (the contact they gave), not to the registered owner: a
        # transient Challan carries those addresses to the one sender, which records against the challan.
        target = Challan(id=challan.id, owner_phone=appeal.contact_phone, owner_email=appeal.contact_email)
    return await messaging.notify(
        session_factory=session_factory, settings=settings, challan=target, notice=notice
    )
