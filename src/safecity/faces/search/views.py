"""REST API of retrospective face search: POST /api/v1/faces/search/{authorisation_id}."""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Request

from safecity.analytics.faces.engine import FaceEngine
from safecity.config import FaceSettings
from safecity.core.errors import InvalidInput
from safecity.faces import service as faces
from safecity.faces.search import service
from safecity.faces.search.schemas import PhotoSearchIn, SearchIn, SearchOut
from safecity.web.deps import CurrentPrincipal, Db, get_services

router = APIRouter(prefix="/api/v1/faces/search", tags=["faces"])


class SharedEngine:
    """The face engine the web process searches with: made on first use (its models take a second to
    load), then lent to one search at a time (dlib's models are not shared across threads).
    """

    def __init__(self) -> None:
        self._engine: FaceEngine | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self, settings: FaceSettings) -> Iterator[FaceEngine]:
        """The engine, held by this thread until the block ends."""
        with self._lock:
            if self._engine is None:
                self._engine = FaceEngine(settings)
            yield self._engine


ENGINE = SharedEngine()


@router.post("/{authorisation_id}", response_model=SearchOut)
def search(
    request: Request, principal: CurrentPrincipal, db: Db, authorisation_id: uuid.UUID, body: PhotoSearchIn
) -> SearchOut:
    """Faces seen by the cameras in the period that resemble the photo's (faces.search), best first.

    Needs a current retrospective authorisation covering the cameras and the period (403
    `authorisation_not_current`, `authorisation_period`, `authorisation_cameras`, …; 404
    `authorisation_not_found`); a photo without one good face is a 422 with the reason (`no_face`,
    `poor_quality`, `several_faces`). Run or refused, the search is audited with its purpose.
    """
    try:
        photo = base64.b64decode(body.photo, validate=True)
    except binascii.Error:
        raise InvalidInput("the photo is not valid base64", code="photo_not_base64", field="photo") from None
    settings = get_services(request).settings
    query = SearchIn.model_validate(body.model_dump(exclude={"photo"}))
    with ENGINE.use(settings.faces) as engine:
        return service.search_by_photo(
            session=db,
            principal=principal,
            engine=engine,
            box=faces.biometric_box(settings),
            authorisation_id=authorisation_id,
            photo=photo,
            query=query,
        )
