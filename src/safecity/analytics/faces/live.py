"""Face matching on live cameras, only while a live authorisation covers the camera.

    camera thread ─ CameraAnalytics.offer ─▶ CameraFaces.offer (covered now? MATCH_FPS at most)
                                   │ put (one pending frame per camera; a newer one replaces it)
                                   ▼
                              FaceQueue ──▶ FaceWorker (thread: its own face engine)
                                                │ every face: followed (FaceTracks) ▶ quality gate;
                                                │ a track's good face ▶ embedding ▶ best in the gallery
                                                ▼
                                        sink(FaceFound) ─▶ stored (and a lead raised) by the analytics flows

Each camera holds the gallery its current live authorisations allow (the enrolled faces of their
watchlists). The worker asks for it again when anything of the faces domain changed (its stamp), when the
authorisation's end passes, and at least every REFRESH_S; until a gallery is known, and whenever it says no
authorisation covers the camera, the camera hands over no frame at all: no face is detected, embedded or
stored (fail closed: a gallery that cannot be read counts as none). A face the quality gate refuses is
counted by its reason and not kept: it could not be matched or searched, so keeping its picture would hold
biometric data for nothing.

The embedding is most of the cost of a face (about 80 ms of 100 on one core), so a face is embedded once
per track, not once per frame: each camera follows its faces from analysed frame to analysed frame, embeds
a track's first face that passes the gate, and again only when the face grew clearly or came out clearly
sharper (up to MAX_EMBEDDINGS). A track matches when the best score over its embeddings reaches the
threshold, and raises its lead once. Every embedded face is handed over (stored for the retrospective
search, and purged after the unmatched retention unless it made a lead).

Faces are found in the whole frame, not within person boxes: RetinaFace is built to find small faces in
whole scenes, it costs about as much per frame as the person detector, and so a camera covered only for
face matching needs no person detector at all (nor does face matching then depend on the detector's rate,
or miss a face whose body is hidden).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter
from trackers.utils.iou import BIoU

from safecity.analytics.faces.index import FaceIndex
from safecity.analytics.faces.types import Embedding, Face, FaceSeen
from safecity.analytics.plates.live import CameraRef
from safecity.analytics.queue import LatestQueue
from safecity.analytics.types import Image
from safecity.video.ingest import Frame

if TYPE_CHECKING:  # the engine (dlib) is loaded by whoever builds one, not by importing the pipeline
    from safecity.analytics.faces.engine import FaceEngine

logger = logging.getLogger(__name__)

MATCH_FPS = 2.0  # frames per second searched for faces, per camera
# A camera's gallery is asked for again at least this often: only a safety net, as changes are seen through
# the stamp within STAMP_EVERY_S and time limits through the gallery's valid_until, and a reload reads the
# whole gallery's enrolments (it opens only the embeddings new to the worker).
REFRESH_S = 60.0
STAMP_EVERY_S = 1.0  # how often the worker asks whether anything of the faces domain changed
PURGE_EVERY_S = 60.0  # how often faces past their time are deleted
# At two frames a second a face moves far between frames: boxes are widened by this fraction of their
# size before their overlap is measured (Buffered IoU, as the object tracker); a small overlap continues.
TRACK_BUFFER = 0.5
TRACK_OVERLAP = 0.1
TRACK_LOST_S = 2.0  # a face track unseen this long has ended (four analysed frames)
GROWTH = 1.3  # a track's face is embedded again when its area grew this much since the largest embedded ...
SHARPER = 1.5  # ... or it is this much sharper than the sharpest embedded
MAX_EMBEDDINGS = 3  # per track: a few views of one face; more only costs CPU

FRAMES = Counter("safecity_face_frames_total", "Frames searched for faces", ["camera"])
FACES = Counter("safecity_face_faces_total", "Faces found on live cameras", ["camera"])
EMBEDDED = Counter(
    "safecity_face_embedded_total", "Faces embedded and searched (a few per track)", ["camera"]
)
REFUSED = Counter("safecity_face_refused_total", "Faces the quality gate refused", ["camera", "reason"])
MATCHED = Counter("safecity_face_matches_total", "Faces at or above the threshold", ["camera"])
DROPS = Counter("safecity_face_queue_drops_total", "Frames replaced by a newer one before face matching")
FAILURES = Counter("safecity_face_failures_total", "Frames face matching failed on", ["camera"])


class Enrolled(Protocol):
    """An enrolled face of a gallery (the faces domain's GalleryFace)."""

    @property
    def enrolment_id(self) -> uuid.UUID: ...
    @property
    def entry_id(self) -> uuid.UUID: ...
    @property
    def watchlist_id(self) -> uuid.UUID: ...
    @property
    def person_id(self) -> uuid.UUID | None: ...
    @property
    def embedding(self) -> Embedding: ...


class Authorised(Protocol):
    """What the faces domain says a camera may be matched against now (its LiveGallery)."""

    @property
    def authorisation_ids(self) -> tuple[uuid.UUID, ...]: ...
    @property
    def faces(self) -> Sequence[Enrolled]: ...
    @property
    def valid_until(self) -> dt.datetime | None: ...


@dataclass(frozen=True, eq=False)
class Gallery:
    """A camera's enrolled faces under its current live authorisations, ready to search."""

    authorisation_ids: tuple[uuid.UUID, ...]
    faces: Mapping[uuid.UUID, Enrolled]  # by enrolment id
    valid_until: dt.datetime | None
    index: FaceIndex | None  # None: no face to match

    @classmethod
    def of(cls, live: Authorised, indexes: GalleryIndexes | None = None) -> Gallery:
        """The searchable form of what the faces domain returned (its index shared through `indexes`)."""
        faces, index = (indexes or GalleryIndexes()).get(live.faces)
        return cls(tuple(live.authorisation_ids), faces, live.valid_until, index)

    def covers(self, now: dt.datetime) -> bool:
        """Whether a live authorisation covers the camera at `now` (else no face may be processed)."""
        return bool(self.authorisation_ids) and (self.valid_until is None or now < self.valid_until)

    def best(self, embedding: Embedding) -> tuple[Enrolled, float] | None:
        """The enrolled face scoring highest against `embedding`, and its score; None for an empty gallery."""
        if self.index is None:
            return None
        hits = self.index.search(np.asarray(embedding, dtype=np.float32), 1)[0]
        if not hits:
            return None
        key, score = hits[0]
        return self.faces[key], score


class GalleryIndexes:
    """The galleries in use: their faces by enrolment id and their 1:N indexes, one per set of faces.

    The faces domain reads the faces of cameras under the same authorisations once (the same sequence),
    so those cameras share one gallery. A set of faces asked for again (the usual case: every few
    seconds) reuses its index; a set that differs a little from one in use (an enrolment added, an entry
    removed or expired) gets a copy of that index changed by the difference rather than a new one (an
    approximate index over a million faces takes seconds to build; encoding a few faces, milliseconds).
    An enrolment's embedding never changes, so the set of enrolment ids is the whole key.
    """

    def __init__(self) -> None:
        self._built: dict[frozenset[uuid.UUID], tuple[Mapping[uuid.UUID, Enrolled], FaceIndex]] = {}
        self._used: set[frozenset[uuid.UUID]] = set()
        # This round's answers, by the identity of the faces' sequence (held, so the identity stays its).
        self._asked: dict[int, tuple[Sequence[Enrolled], Mapping[uuid.UUID, Enrolled], FaceIndex | None]] = {}

    def get(self, faces: Sequence[Enrolled]) -> tuple[Mapping[uuid.UUID, Enrolled], FaceIndex | None]:
        """These faces by enrolment id and their index (None for no face)."""
        asked = self._asked.get(id(faces))
        if asked is not None and asked[0] is faces:
            return asked[1], asked[2]
        by_id = {f.enrolment_id: f for f in faces}  # fresh: an entry's person may have changed
        index = self._index(by_id) if by_id else None
        self._asked[id(faces)] = (faces, by_id, index)
        return by_id, index

    def _index(self, faces: Mapping[uuid.UUID, Enrolled]) -> FaceIndex:
        key = frozenset(faces)
        built = self._built.get(key)
        index = built[1] if built is not None else self._changed(key, faces)
        if index is None:
            keys, vectors = _vectors(faces, faces)
            index = FaceIndex(vectors.shape[1])
            index.add(keys, vectors)
        self._built[key] = (faces, index)
        self._used.add(key)
        return index

    def _changed(self, key: frozenset[uuid.UUID], faces: Mapping[uuid.UUID, Enrolled]) -> FaceIndex | None:
        """A copy of the index in use nearest to `key`, changed to it; None when none is near."""
        nearest = max(self._built, key=lambda k: len(k & key), default=None)
        if nearest is None:
            return None
        gone, new = nearest - key, key - nearest
        if 2 * (len(gone) + len(new)) > len(key):
            return None  # mostly other faces: built anew
        index = self._built[nearest][1].copy()  # the old one stays as it is for the cameras that use it
        index.remove(gone)
        if new:
            index.add(*_vectors(faces, new))
        return index

    def keep(self, gallery: Gallery) -> None:
        """Mark a gallery asked for earlier as still in use (a camera that was not due keeps its own)."""
        self._used.update(k for k, (_, index) in self._built.items() if index is gallery.index)

    def held(self) -> Mapping[uuid.UUID, Embedding]:
        """The embeddings of the galleries in use, by enrolment id: the faces domain need not open them
        again (a view of the galleries, nothing copied).
        """
        return _Held([faces for faces, _ in self._built.values()])

    def forget_unused(self) -> None:
        """End the round: drop the indexes no gallery asked for or kept since the last call."""
        self._built = {k: v for k, v in self._built.items() if k in self._used}
        self._used = set()
        self._asked = {}


class _Held(Mapping[uuid.UUID, Embedding]):
    """Enrolment id -> embedding over several galleries' faces, read in place."""

    def __init__(self, galleries: list[Mapping[uuid.UUID, Enrolled]]) -> None:
        self._galleries = galleries

    def __getitem__(self, key: uuid.UUID) -> Embedding:
        for faces in self._galleries:
            face = faces.get(key)
            if face is not None:
                return face.embedding
        raise KeyError(key)

    def __iter__(self) -> Iterator[uuid.UUID]:
        return iter({key for faces in self._galleries for key in faces})

    def __len__(self) -> int:
        return len({key for faces in self._galleries for key in faces})


def _vectors(
    faces: Mapping[uuid.UUID, Enrolled], keys: Iterable[uuid.UUID]
) -> tuple[list[uuid.UUID], npt.NDArray[np.float32]]:
    """The keys in order, and their faces' embeddings as rows."""
    chosen = list(keys)
    return chosen, np.stack([np.asarray(faces[k].embedding, dtype=np.float32) for k in chosen])


NO_GALLERY = Gallery((), {}, None, None)


@dataclass(frozen=True)
class FaceFound:
    """A face seen on a covered camera: what one stored sighting (and perhaps a lead) is made of."""

    camera: CameraRef
    seen_at: dt.datetime
    seen: FaceSeen  # its embedding is set: refused faces are not handed over
    authorisation_id: uuid.UUID
    best: Enrolled | None
    score: float | None
    threshold: float
    track_id: int  # the camera's face track it belongs to
    lead: bool  # it raises its track's lead: the first of the track's faces to reach the threshold

    @property
    def matched(self) -> bool:
        """Whether the best enrolled face reached the threshold."""
        return self.score is not None and self.score >= self.threshold


# Called on the worker thread: they must return quickly or be cheap.
Sink = Callable[[FaceFound], None]
# Camera ids, and the embeddings already held (by enrolment id: not to be opened again) -> what each
# camera's live authorisations allow now.
GalleryLoader = Callable[[Sequence[uuid.UUID], Mapping[uuid.UUID, Embedding]], Mapping[uuid.UUID, Authorised]]
Stamp = Callable[[], str]  # changes whenever anything of watchlists, enrolments or authorisations does


@dataclass(eq=False)
class FaceTrack:
    """One face followed on a camera from analysed frame to analysed frame, and what its embeddings gave."""

    track_id: int
    box: tuple[int, int, int, int]  # x, y, width, height in the latest frame
    last_seen: float  # monotonic
    embeddings: int = 0
    area: int = 0  # of the largest face embedded
    sharpness: float = 0.0  # of the sharpest face embedded
    score: float | None = None  # the best over its embeddings
    led: bool = False  # its lead was raised

    def wants(self, seen: FaceSeen) -> bool:
        """Whether this face of the track (one the gate passed) is worth an embedding."""
        if self.embeddings == 0:
            return True
        return self.embeddings < MAX_EMBEDDINGS and (
            seen.face.area >= self.area * GROWTH or seen.quality.sharpness >= self.sharpness * SHARPER
        )

    def embedded(self, seen: FaceSeen, score: float | None, threshold: float) -> bool:
        """Count an embedding of the track and its score; whether it raises the track's lead."""
        self.embeddings += 1
        self.area = max(self.area, seen.face.area)
        self.sharpness = max(self.sharpness, seen.quality.sharpness)
        if score is not None and (self.score is None or score > self.score):
            self.score = score
        lead = not self.led and self.score is not None and self.score >= threshold
        self.led = self.led or lead
        return lead


class FaceTracks:
    """A camera's faces followed between analysed frames: each face continues the track it overlaps most
    (greedy on Buffered IoU; at a few frames a second a motion model buys little), or starts one.
    """

    def __init__(self) -> None:
        self._tracks: dict[int, FaceTrack] = {}
        self._next_id = 1
        self._overlap = BIoU(buffer_ratio=TRACK_BUFFER)

    def follow(self, faces: Sequence[Face], at: float) -> list[FaceTrack]:
        """The track of each face, in order, at (monotonic) `at`; tracks unseen for TRACK_LOST_S end."""
        self._tracks = {k: t for k, t in self._tracks.items() if at - t.last_seen <= TRACK_LOST_S}
        tracks = list(self._tracks.values())
        chosen: dict[int, FaceTrack] = {}
        if faces and tracks:
            overlap = self._overlap.compute(_corners(f.box for f in faces), _corners(t.box for t in tracks))
            taken: set[int] = set()
            for i, j in sorted(
                np.argwhere(overlap >= TRACK_OVERLAP).tolist(), key=lambda p: -overlap[p[0], p[1]]
            ):
                if i not in chosen and j not in taken:
                    chosen[i] = tracks[j]
                    taken.add(j)
        followed = []
        for i, face in enumerate(faces):
            track = chosen.get(i)
            if track is None:
                track = self._tracks[self._next_id] = FaceTrack(self._next_id, face.box, at)
                self._next_id += 1
            track.box, track.last_seen = face.box, at
            followed.append(track)
        return followed

    def clear(self) -> None:
        """End every track (their faces are embedded and matched afresh)."""
        self._tracks.clear()

    def __len__(self) -> int:
        return len(self._tracks)


def _corners(boxes: Iterable[tuple[int, int, int, int]]) -> npt.NDArray[np.float64]:
    """Boxes (x, y, width, height) as rows of x1, y1, x2, y2."""
    return np.asarray([(x, y, x + w, y + h) for x, y, w, h in boxes], dtype=np.float64).reshape(-1, 4)


@dataclass
class FaceJob:
    """A frame waiting for face matching."""

    camera: CameraFaces
    frame: Frame
    image: Image


class FaceQueue(LatestQueue[uuid.UUID, FaceJob, "CameraFaces"]):
    """The face matcher's queue: each covered camera's newest frame, by camera id; its members are the
    cameras whose galleries the worker keeps current (see LatestQueue).
    """

    def __init__(self) -> None:
        super().__init__(DROPS)


class CameraFaces:
    """One camera's face matching: the camera thread offers frames, the worker thread keeps the gallery
    current and matches the faces. The gallery is one reference, replaced whole, so each side reads it whole.
    """

    def __init__(self, ref: CameraRef, queue: FaceQueue, *, sink: Sink, fps: float = MATCH_FPS) -> None:
        self.ref = ref
        self.queue = queue
        self.sink = sink
        self.every = 1.0 / fps
        self.gallery = NO_GALLERY  # until the worker has asked: nothing is processed
        self.loaded_at = -float("inf")  # monotonic; worker thread
        self.frames = 0
        self.faces = 0
        self.embedded = 0
        self.matches = 0
        self.last_error: str | None = None
        self._last_put = -float("inf")  # camera thread
        # Worker threads: several may hold frames of this camera at once; its tracks follow frame order.
        self.tracks = FaceTracks()
        self._tracked: tuple[tuple[uuid.UUID, ...], FaceIndex | None] | None = (
            None  # the gallery they were matched in
        )
        self._done_at = -float("inf")  # monotonic time of the latest frame matched
        self._lock = threading.Lock()
        self._label = str(ref.camera_id)
        queue.register(ref.camera_id, self)

    # --- camera thread -----------------------------------------------------------------------------

    def offer(self, frame: Frame, image: Image) -> bool:
        """Hand a checked frame to the worker when the camera is covered and its turn has come."""
        if not self.gallery.covers(dt.datetime.now(dt.UTC)):
            return False
        if frame.monotonic - self._last_put < self.every:
            return False
        self._last_put = frame.monotonic
        self.queue.put(self.ref.camera_id, FaceJob(self, frame, image))
        return True

    def close(self) -> None:
        """Stop matching: the pending frame is dropped and the worker forgets the camera."""
        self.queue.unregister(self.ref.camera_id, self)
        self.queue.discard(self.ref.camera_id, lambda job: job.camera is self)

    # --- worker thread -----------------------------------------------------------------------------

    def due(self, now: float, changed: bool) -> bool:
        """Whether the gallery must be asked for again at (monotonic) `now`."""
        ends = self.gallery.valid_until
        return (
            changed
            or now - self.loaded_at >= REFRESH_S
            or (ends is not None and dt.datetime.now(dt.UTC) >= ends)
        )

    def reload(
        self, live: Authorised | None, now: float, indexes: GalleryIndexes | None = None, *, error: str = ""
    ) -> None:
        """Take the gallery the faces domain gave; None (it could not be read: `error`) is none, and so is
        one that cannot be made searchable (nothing is matched until it can).
        """
        gallery = NO_GALLERY
        if live is not None:
            try:
                gallery = Gallery.of(live, indexes)
            except Exception as exc:
                error = f"gallery not searchable: {type(exc).__name__}: {exc}"
                logger.exception("camera %s: the face gallery could not be indexed", self.ref.camera_id)
        if error:
            self.last_error = error
        self.gallery = gallery
        self.loaded_at = now

    def process(self, job: FaceJob, engine: FaceEngine) -> list[FaceFound]:
        """Find, follow and check every face of a frame; embed and match the faces their tracks want, and
        hand each embedded face to the sink.
        """
        gallery = self.gallery
        if not gallery.covers(dt.datetime.now(dt.UTC)):
            return []  # the authorisation ended while the frame waited
        with self._lock:
            if job.frame.monotonic <= self._done_at:
                return []  # another worker matched a newer frame of this camera meanwhile
            self._done_at = job.frame.monotonic
            found = self._match(job, engine, gallery)
        for face in found:
            try:
                self.sink(face)
            except Exception:  # a face that cannot be handed over must not stop the matching
                logger.exception("camera %s: a face could not be handed over", self.ref.camera_id)
        return found

    def _match(self, job: FaceJob, engine: FaceEngine, gallery: Gallery) -> list[FaceFound]:
        self.frames += 1
        FRAMES.labels(self._label).inc()
        matched_in = (gallery.authorisation_ids, gallery.index)
        if (
            self._tracked is None
            or self._tracked[0] != matched_in[0]
            or self._tracked[1] is not matched_in[1]
        ):
            self.tracks.clear()  # a changed gallery: every face in view is matched in it afresh
            self._tracked = matched_in
        seen_all = engine.assess(job.image, retry=False)
        found = []
        for seen, track in zip(
            seen_all, self.tracks.follow([s.face for s in seen_all], job.frame.monotonic), strict=True
        ):
            self.faces += 1
            FACES.labels(self._label).inc()
            if not seen.quality.ok:
                for reason in seen.quality.reasons:
                    REFUSED.labels(self._label, reason).inc()
                continue
            if not track.wants(seen):
                continue
            vector = engine.embedding(seen)
            embedded = replace(seen, embedding=vector)
            self.embedded += 1
            EMBEDDED.labels(self._label).inc()
            best = gallery.best(vector)
            score = best[1] if best else None
            face = FaceFound(
                camera=self.ref,
                seen_at=job.frame.captured_at,
                seen=embedded,
                authorisation_id=gallery.authorisation_ids[0],
                best=best[0] if best else None,
                score=score,
                threshold=engine.threshold,
                track_id=track.track_id,
                lead=track.embedded(embedded, score, engine.threshold),
            )
            if face.matched:
                self.matches += 1
                MATCHED.labels(self._label).inc()
            found.append(face)
        return found


@dataclass
class FaceWorker:
    """The face matcher's thread: keeps every camera's gallery current and matches the waiting frames."""

    engine: FaceEngine
    queue: FaceQueue
    loader: GalleryLoader
    stamp: Stamp
    purge: Callable[[], int] | None = None  # deletes the faces past their time; how many
    # Several workers may share a queue (each with its own engine); only the keeper asks for galleries and
    # purges, the others only match.
    keeper: bool = True
    name: str = "analytics-faces"
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _stamp: str | None = None
    _stamp_at: float = -float("inf")
    _purged_at: float = -float("inf")
    _indexes: GalleryIndexes = field(default_factory=GalleryIndexes)

    def start(self) -> None:
        """Start matching."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the frame in hand."""
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.keeper:
                now = time.monotonic()
                self.refresh(now)
                self.purge_due(now)
            job = self.queue.get(timeout=0.5)
            if job is not None:
                self.run_one(job)

    def refresh(self, now: float) -> None:
        """Ask again for the galleries that are due (all of them when the faces domain changed)."""
        changed = False
        if now - self._stamp_at >= STAMP_EVERY_S:
            self._stamp_at = now
            try:
                stamp = self.stamp()
            except Exception:  # the database may be away for a moment: the periodic reload still runs
                logger.exception("the faces domain's stamp could not be read")
            else:
                changed, self._stamp = stamp != self._stamp, stamp
        due = [camera for camera in self.queue.members() if camera.due(now, changed)]
        if not due:
            return
        error = ""
        try:  # one reading for them all: cameras under the same authorisations share their faces
            loaded = self.loader([camera.ref.camera_id for camera in due], self._indexes.held())
        except Exception as exc:  # fail closed: a gallery that cannot be read is none
            logger.exception("the face galleries of %d cameras could not be read", len(due))
            loaded, error = {}, f"gallery not read: {type(exc).__name__}: {exc}"
        for camera in due:
            camera.reload(loaded.get(camera.ref.camera_id), now, self._indexes, error=error)
        for camera in self.queue.members():  # those not due keep theirs: it stays in use
            self._indexes.keep(camera.gallery)
        self._indexes.forget_unused()

    def purge_due(self, now: float) -> None:
        """Delete the faces past their time, every PURGE_EVERY_S."""
        if self.purge is None or now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        try:
            deleted = self.purge()
        except Exception:
            logger.exception("faces past their time could not be deleted; tried again later")
            return
        if deleted:
            logger.info("face retention: %s faces past their time deleted", deleted)

    def run_one(self, job: FaceJob) -> list[FaceFound]:
        """Match one frame; a failure is that frame's problem only."""
        try:
            return job.camera.process(job, self.engine)
        except Exception as exc:
            job.camera.last_error = f"{type(exc).__name__}: {exc}"
            FAILURES.labels(str(job.camera.ref.camera_id)).inc()
            logger.exception("camera %s: face matching failed on a frame", job.camera.ref.camera_id)
            return []
