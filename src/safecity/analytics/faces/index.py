"""The 1:N gallery index: which enrolled faces are nearest to a face seen, exact or approximate.

Keys are enrolment ids (UUIDs); vectors are the engine's L2-normalised embeddings, so a score is the
cosine similarity (the dot product), best first, comparable with `settings.faces.threshold`.

Two modes, chosen by the number of live faces:
- exact (fewer than `exact_below`): one matrix product over every enrolled face. Exact, and at these
  sizes about as fast as any index.
- approximate (from `exact_below` on): every face also held as a 32-byte product-quantised code (FAISS
  PQ fast-scan: 64 sub-vectors of 2 dimensions, 16 centroids each, scanned with SIMD lookup tables);
  a search scans all the codes for the `candidates` best, then scores those exactly from the vectors
  and returns the exact top-k among them. It goes back to exact below half of `exact_below` (not at
  once, so a gallery at the border does not rebuild on every change).

Why a scan of codes and not a graph or inverted lists, measured on clustered synthetic galleries shaped
like dlib's embeddings (bench/bench_faces_index.py, one thread per query, 1 M faces): a FAISS HNSW
graph stopped at recall@1 0.979 with five photos per person (ef_search 256) and 0.85 with one (512),
took many minutes to build and could not remove a vector; IVF-flat with 16 k lists reached only 0.89
(nprobe 128), as a person's photos straddle the lists. The code scan visits every face, so a near-tie
cannot be lost on the way: with 512 candidates re-ranked, recall@1 1.000 with five photos per person
and 0.996 with one, 3.2-4.5 ms mean and 3.9-5.6 ms p95 over four runs on a shared two-core
machine (exact search: 48-72 ms), built in 8.5 s on two threads; the codes take 32 MiB. The scan is
the cost (re-ranking 128 candidates or 1024 costs about the same), and it grows with the gallery: a
few ms per million faces and core.

Removal is a tombstone: the slot is marked dead, the scan asks for as many more candidates as there are
dead slots in proportion, and the re-ranking drops them (a removed or expired enrolment is gone from the
very next search). The codes are rebuilt without the dead once they reach a third of the slots, and the
codebooks retrained once the gallery has doubled since they were trained (they are learnt from the
faces, so they follow a gallery that grows from 50 k to millions). Adding only encodes the new faces.

The index keeps every vector (the slot arrays): exact search and the re-ranking read them, a rebuild
trains from them, and `save` writes them (0.5 GiB for 1 M faces of 128 floats, the codes 32 MiB more).

Threads: any number of threads may search while one adds or removes. Searches and the mutations take
one lock; writers are also serialised by a second lock, under which a rebuild (training the codebooks
and encoding the gallery: seconds at 1 M faces) runs without the first, so searches go on against the
old codes meanwhile and see the new ones once they are swapped in whole. Large batches are encoded a
chunk at a time, so searches interleave with a bulk load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal

import faiss
import numpy as np
import numpy.typing as npt

Mode = Literal["exact", "approximate"]
Vectors = npt.NDArray[np.float32]
Hit = tuple[uuid.UUID, float]

DEFAULT_EXACT_BELOW = 50_000  # exact search over 50 k faces: a few ms on one core, no index to keep
DEFAULT_CANDIDATES = 512  # codes re-ranked exactly per search (recall against speed: see the benchmark)
PQ_DIMS = 2  # dimensions per sub-vector, each coded in 4 bits: 32 bytes for a 128-d face
PQ_CENTROIDS = 16  # what 4 bits index: also the fewest faces the codebooks can be learnt from
TRAIN_MOST = 100_000  # faces the codebooks are learnt from (a sample of a larger gallery)
INSERT_CHUNK = 10_000  # faces encoded under one hold of the lock
MAGIC = b"SAFECITY-FACEINDEX\n"
FORMAT_VERSION = 2
_HEADER_LENGTH = struct.Struct(">I")
_MAX_HEADER = 1 << 16


class FaceIndexError(ValueError):
    """A file that is not a face index, is damaged, or does not match what was asked for."""


class FaceIndex:
    """Enrolled faces by enrolment id, searched by cosine score; exact or approximate by size."""

    def __init__(
        self, dim: int = 128, *, exact_below: int = DEFAULT_EXACT_BELOW, candidates: int = DEFAULT_CANDIDATES
    ) -> None:
        if dim < 1:
            raise ValueError("dim must be at least 1")
        if exact_below < PQ_CENTROIDS:
            raise ValueError(f"exact_below must be at least {PQ_CENTROIDS}")
        if candidates < 1:
            raise ValueError("candidates must be at least 1")
        self.dim = dim
        self.exact_below = exact_below
        self.stamp = ""  # which state of the database this copy reflects: set by `save`, read by `load`
        self._candidates = candidates
        self._lock = threading.Lock()  # searches and the mutations of the state
        self._write_lock = threading.Lock()  # one writer at a time (add, remove, save)
        self._vectors: Vectors = np.zeros((0, dim), dtype=np.float32)
        self._keys: npt.NDArray[np.uint8] = np.zeros((0, 16), dtype=np.uint8)  # each slot's UUID, as bytes
        self._live: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._count = 0  # slots in use (live or dead)
        self._slots: dict[uuid.UUID, int] = {}
        self._codes: Any = None  # faiss.IndexPQFastScan over slots 0.._count-1 (its ids are the slots)
        self._trained_on = 0  # how many faces the codebooks were learnt from

    # ----------------------------------------------------------------------------------------- reading

    def __len__(self) -> int:
        """The number of enrolled (live) faces."""
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        """True when this enrolment id is in the index."""
        return key in self._slots

    @property
    def mode(self) -> Mode:
        """Which search runs now: "exact" or "approximate"."""
        return "exact" if self._codes is None else "approximate"

    @property
    def candidates(self) -> int:
        """How many codes an approximate search re-ranks exactly (more: better recall, slower)."""
        return self._candidates

    @candidates.setter
    def candidates(self, value: int) -> None:
        if value < 1:
            raise ValueError("candidates must be at least 1")
        with self._lock:
            self._candidates = value

    def search(self, queries: npt.ArrayLike, k: int = 1) -> list[list[Hit]]:
        """The `k` best enrolled faces for each query, best score first (fewer when the gallery is smaller).

        Args:
            queries: (n, dim) embeddings (a single (dim,) vector is taken as one query); normalised here.
            k: how many results per query.

        Returns:
            One list per query of (enrolment id, cosine score).
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        q = self._as_vectors(queries)
        with self._lock:
            if not self._slots:
                return [[] for _ in range(len(q))]
            scores, slots = self._approximate(q, k) if self._codes is not None else self._exact(q, k)
            return [
                [
                    (uuid.UUID(bytes=self._keys[slot].tobytes()), float(score))
                    for score, slot in zip(row_scores, row_slots, strict=True)
                    if slot >= 0
                ]
                for row_scores, row_slots in zip(scores, slots, strict=True)
            ]

    def _exact(self, q: Vectors, k: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """Exact top-k over the live slots (called under the lock)."""
        scores = q @ self._vectors[: self._count].T
        scores[:, ~self._live[: self._count]] = -np.inf
        k = min(k, len(self._slots))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), np.take_along_axis(top, order, axis=1)

    def _approximate(self, q: Vectors, k: int) -> tuple[Vectors, npt.NDArray[np.int64]]:
        """The codes' best candidates, re-ranked exactly; dead slots dropped (called under the lock)."""
        k = min(k, len(self._slots))
        # Dead slots still hold codes: ask for more in proportion, so as many live ones remain.
        wanted = min(self._count, -(-max(self._candidates, k) * self._count // len(self._slots)))
        _, found = self._codes.search(q, wanted)
        scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        slots = np.full((len(q), k), -1, dtype=np.int64)
        for row, candidates in enumerate(found):
            candidates = candidates[candidates >= 0]
            candidates = candidates[self._live[candidates]]
            exact = self._vectors[candidates] @ q[row]
            top = np.argsort(-exact, kind="stable")[:k]
            scores[row, : len(top)], slots[row, : len(top)] = exact[top], candidates[top]
        return scores, slots

    # ----------------------------------------------------------------------------------------- writing

    def add(self, keys: Sequence[uuid.UUID], vectors: npt.ArrayLike) -> None:
        """Enrol faces; a key already present has its vector replaced.

        Args:
            keys: enrolment ids, one per row, no repeats.
            vectors: (len(keys), dim) embeddings; normalised here.
        """
        keys = list(keys)
        v = self._as_vectors(vectors)
        if len(v) != len(keys):
            raise ValueError(f"{len(keys)} keys for {len(v)} vectors")
        if len(set(keys)) != len(keys):
            raise ValueError("a key appears twice")
        if not all(isinstance(key, uuid.UUID) for key in keys):
            raise TypeError("keys must be uuid.UUID")
        if not keys:
            return
        with self._write_lock:
            self._remove_locked([key for key in keys if key in self._slots])
            for start in range(0, len(keys), INSERT_CHUNK):
                self._append(keys[start : start + INSERT_CHUNK], v[start : start + INSERT_CHUNK])
            self._maintain()

    def _append(self, keys: list[uuid.UUID], v: Vectors) -> None:
        """New slots at the end, and (in approximate mode) their codes, whose ids follow the slots."""
        with self._lock:
            first = self._count
            self._reserve(first + len(keys))
            self._vectors[first : first + len(keys)] = v
            self._keys[first : first + len(keys)] = np.frombuffer(
                b"".join(key.bytes for key in keys), dtype=np.uint8
            ).reshape(-1, 16)
            self._live[first : first + len(keys)] = True
            self._count = first + len(keys)
            self._slots.update(zip(keys, range(first, first + len(keys)), strict=True))
            if self._codes is not None:
                self._codes.add(v)

    def remove(self, keys: Iterable[uuid.UUID]) -> int:
        """Take enrolments out (unknown keys are ignored); returns how many were removed."""
        with self._write_lock:
            removed = self._remove_locked(list(keys))
            self._maintain()
            return removed

    def _remove_locked(self, keys: list[uuid.UUID]) -> int:
        """Kill slots under the write lock: both searches skip them."""
        with self._lock:
            slots = [slot for key in keys if (slot := self._slots.pop(key, None)) is not None]
            self._live[slots] = False
            return len(slots)

    def _reserve(self, needed: int) -> None:
        """Grow the slot arrays geometrically (under the lock)."""
        capacity = len(self._live)
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 1024)
        vectors = np.zeros((capacity, self.dim), dtype=np.float32)
        keys = np.zeros((capacity, 16), dtype=np.uint8)
        live = np.zeros(capacity, dtype=bool)
        vectors[: self._count] = self._vectors[: self._count]
        keys[: self._count] = self._keys[: self._count]
        live[: self._count] = self._live[: self._count]
        self._vectors, self._keys, self._live = vectors, keys, live

    def _maintain(self) -> None:
        """Switch modes, drop the dead or retrain when the gallery has changed enough (write lock)."""
        live = len(self._slots)
        dead = self._count - live
        if self._codes is None:
            if live >= self.exact_below:
                self._rebuild(approximate=True)
            elif dead > max(live, 1024):
                self._rebuild(approximate=False)
        elif live < self.exact_below // 2:
            self._rebuild(approximate=False)
        elif 3 * dead >= self._count or live >= 2 * self._trained_on:
            self._rebuild(approximate=True)

    def _rebuild(self, *, approximate: bool) -> None:
        """Compact the slots and (in approximate mode) train and encode anew off the lock; swap in whole.

        Only writers change the state and the write lock is held, so reading it here without the
        search lock is safe; searches meanwhile use the old arrays and codes.
        """
        live_slots = np.flatnonzero(self._live[: self._count])
        vectors = self._vectors[live_slots]  # fancy indexing: new arrays, the old stay intact
        keys = self._keys[live_slots]
        n = len(live_slots)
        codes = _encoded(vectors) if approximate else None
        slots = {uuid.UUID(bytes=keys[i].tobytes()): i for i in range(n)}
        with self._lock:
            self._vectors, self._keys = vectors, keys
            self._live = np.ones(n, dtype=bool)
            self._count = n
            self._slots = slots
            self._codes = codes
            self._trained_on = n if approximate else 0

    def copy(self) -> FaceIndex:
        """An index of the same faces that changes without this one (its own slots and codes): a gallery
        changed by a few faces is this copy changed, with no codebooks to learn or gallery to encode.
        """
        with self._write_lock, self._lock:
            twin = FaceIndex(self.dim, exact_below=self.exact_below, candidates=self._candidates)
            twin.stamp = self.stamp
            twin._vectors = self._vectors[: self._count].copy()
            twin._keys = self._keys[: self._count].copy()
            twin._live = self._live[: self._count].copy()
            twin._count = self._count
            twin._slots = dict(self._slots)
            twin._codes = None if self._codes is None else faiss.clone_index(self._codes)
            twin._trained_on = self._trained_on
            return twin

    def _as_vectors(self, values: npt.ArrayLike) -> Vectors:
        """Validated (n, dim) float32 rows, L2-normalised."""
        v = np.array(values, dtype=np.float32, ndmin=2, copy=True)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"expected vectors of {self.dim} values, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError("vectors must be finite")
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError("a zero vector has no direction")
        return np.ascontiguousarray(v / norms, dtype=np.float32)

    # ------------------------------------------------------------------------------------- persistence

    def save(self, path: Path, *, stamp: str) -> None:
        """Write the index to `path` atomically (a temporary file, then a rename), with `stamp`.

        The stamp says which state of the database this copy reflects (e.g. the enrolments' generation
        or last change), so a worker that loads it can tell whether it is in step.
        """
        with self._write_lock:
            self.stamp = stamp
            codes = b"" if self._codes is None else faiss.serialize_index(self._codes).tobytes()
            parts = (
                self._keys[: self._count].tobytes(),
                np.packbits(self._live[: self._count]).tobytes(),
                self._vectors[: self._count].tobytes(),
                codes,
            )
            digest = hashlib.sha256()
            for part in parts:
                digest.update(part)
            header = json.dumps(
                {
                    "version": FORMAT_VERSION,
                    "dim": self.dim,
                    "count": self._count,
                    "live": len(self._slots),
                    "exact_below": self.exact_below,
                    "candidates": self._candidates,
                    "trained_on": self._trained_on,
                    "codes_bytes": len(codes),
                    "stamp": stamp,
                    "sha256": digest.hexdigest(),
                }
            ).encode()
            path = Path(path)
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(MAGIC + _HEADER_LENGTH.pack(len(header)) + header)
                    for part in parts:
                        out.write(part)
                    out.flush()
                    os.fsync(out.fileno())
                Path(temp).replace(path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    Path(temp).unlink()
                raise
            _fsync_directory(path.parent)

    @classmethod
    def load(cls, path: Path) -> FaceIndex:
        """Read an index written by `save`; a foreign, damaged or truncated file raises FaceIndexError."""
        with Path(path).open("rb") as source:
            if source.read(len(MAGIC)) != MAGIC:
                raise FaceIndexError(f"{path} is not a face index file")
            (length,) = _HEADER_LENGTH.unpack(_read(source, _HEADER_LENGTH.size, path))
            if length > _MAX_HEADER:
                raise FaceIndexError(f"{path}: damaged header")
            header = _parse_header(_read(source, length, path), path)
            dim, count = header["dim"], header["count"]
            # Checked before reading, so a damaged count never asks for a huge allocation.
            payload = count * 16 + (count + 7) // 8 + count * dim * 4 + header["codes_bytes"]
            if payload != os.fstat(source.fileno()).st_size - source.tell():
                raise FaceIndexError(f"{path} is truncated or has the wrong size")
            parts = (
                _read(source, count * 16, path),
                _read(source, (count + 7) // 8, path),
                _read(source, count * dim * 4, path),
                _read(source, header["codes_bytes"], path),
            )
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        if digest.hexdigest() != header["sha256"]:
            raise FaceIndexError(f"{path}: checksum mismatch (the file is damaged)")
        index = cls(dim, exact_below=header["exact_below"], candidates=header["candidates"])
        index.stamp = header["stamp"]
        index._keys = np.frombuffer(parts[0], dtype=np.uint8).reshape(count, 16).copy()
        index._live = np.unpackbits(np.frombuffer(parts[1], dtype=np.uint8), count=count).astype(bool)
        index._vectors = np.frombuffer(parts[2], dtype=np.float32).reshape(count, dim).copy()
        index._count = count
        index._slots = {
            uuid.UUID(bytes=index._keys[i].tobytes()): int(i) for i in np.flatnonzero(index._live)
        }
        if len(index._slots) != header["live"]:
            raise FaceIndexError(f"{path}: the live entries do not match the header")
        if parts[3]:
            index._codes = _load_codes(parts[3], dim, count, path)
            index._trained_on = header["trained_on"]
        return index


def _encoded(vectors: Vectors) -> Any:
    """A PQ fast-scan index of `vectors` (ids = row numbers), its codebooks learnt from them."""
    dim = vectors.shape[1]
    codes = faiss.IndexPQFastScan(dim, _subvectors(dim), 4, faiss.METRIC_INNER_PRODUCT)
    sample = vectors
    if len(vectors) > TRAIN_MOST:
        rows = np.random.default_rng(len(vectors)).choice(len(vectors), TRAIN_MOST, replace=False)
        sample = vectors[np.sort(rows)]
    codes.train(sample)
    for start in range(0, len(vectors), INSERT_CHUNK):
        codes.add(vectors[start : start + INSERT_CHUNK])
    return codes


def _subvectors(dim: int) -> int:
    """Sub-vectors of PQ_DIMS dimensions each (of one, where `dim` does not divide)."""
    return dim // PQ_DIMS if dim % PQ_DIMS == 0 else dim


def _load_codes(data: bytes, dim: int, count: int, path: Path) -> Any:
    """The serialised codes, checked against what the header says they hold."""
    try:
        codes = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as error:
        raise FaceIndexError(f"{path}: the approximate index is damaged") from error
    if not isinstance(codes, faiss.IndexPQFastScan) or codes.d != dim or codes.ntotal != count:
        raise FaceIndexError(f"{path}: the approximate index does not match the faces stored")
    return codes


def _read(source: BinaryIO, size: int, path: Path) -> bytes:
    """Exactly `size` bytes, or FaceIndexError for a truncated file."""
    data = source.read(size)
    if len(data) != size:
        raise FaceIndexError(f"{path} is truncated")
    return data


def _parse_header(raw: bytes, path: Path) -> dict[str, Any]:
    """The JSON header, with every field checked for type and range."""
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FaceIndexError(f"{path}: damaged header") from error
    if not isinstance(header, dict) or header.get("version") != FORMAT_VERSION:
        raise FaceIndexError(f"{path}: unknown face index format")
    for name in ("dim", "count", "live", "exact_below", "candidates", "trained_on", "codes_bytes"):
        value = header.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FaceIndexError(f"{path}: damaged header ({name})")
    if header["dim"] < 1 or header["exact_below"] < PQ_CENTROIDS or header["candidates"] < 1:
        raise FaceIndexError(f"{path}: damaged header")
    if not isinstance(header.get("stamp"), str) or not isinstance(header.get("sha256"), str):
        raise FaceIndexError(f"{path}: damaged header")
    return header


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX: fsync the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
