"""The Number plates panel of a camera's rule editor: how the camera reads plates (htmx form)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from safecity.analytics import service as analytics
from safecity.analytics.plates import service as plates
from safecity.analytics.plates.schemas import PlateSettings, PlateSettingsOut
from safecity.core.errors import InvalidInput, SafecityError
from safecity.web.deps import Db
from safecity.web.pages import CurrentPage, Page, refuse, render

router = APIRouter(include_in_schema=False)

MODES = {
    "off": "Off",
    "vehicles": "Read plates of tracked vehicles",
    "dedicated": "ANPR camera on a lane (read every frame that moves, no vehicle detector)",
}
REGIONS = ("PK", "IN", "AR", "DZ", "ANY")


def panel_context(page: Page, current: PlateSettingsOut, saved: str | None = None) -> dict[str, Any]:
    """What the panel (plates/_camera_settings.html) shows."""
    return {
        "plates": current,
        "plate_modes": MODES,
        "plate_regions": REGIONS,
        "plates_can_manage": page.principal.can(analytics.MANAGE),
        "plates_saved": saved,
    }


@router.post("/cameras/{camera_id}/analytics/plates", response_class=HTMLResponse)
def save(
    page: CurrentPage,
    db: Db,
    camera_id: uuid.UUID,
    mode: Annotated[str, Form(max_length=16)],
    region: Annotated[str, Form(max_length=8)] = "PK",
    min_plate_px: Annotated[str, Form(max_length=8)] = "",
    min_vehicle_px: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save how the camera reads plates; answers the panel as it now is, or a flash saying what is wrong."""
    try:
        try:
            settings = PlateSettings.model_validate(
                {
                    "mode": mode,
                    "region": region,
                    **({"min_plate_px": min_plate_px} if min_plate_px.strip() else {}),
                    **({"min_vehicle_px": min_vehicle_px} if min_vehicle_px.strip() else {}),
                }
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"these plate settings are not valid: {problems}", code="bad_plates") from exc
        current = plates.set_settings(
            session=db, principal=page.principal, camera_id=camera_id, settings=settings
        )
    except SafecityError as exc:
        return refuse(db, exc, page)  # a refused permission is audited, as in the API
    saved = (
        "Saved: applies within seconds." if settings.mode != "off" else "Saved: this camera reads no plates."
    )
    return render(page, "plates/_camera_settings.html", **panel_context(page, current, saved))
