"""The 1:N gallery index: which enrolled faces are nearest to a face seen, exact or approximate.

Keys are enrolment ids (UUIDs); vectors are the engine's L2-normalised embeddings, so a score is the
cosine similarity (the dot product), best first, comparable with `settings.faces.threshold`.

Two modes, chosen by the number of live faces:
- exact (fewer than `exact_below`): one matrix product over every enrolled face. Exact, and at these
  sizes about as fast as any index.
- approximate (from `exact_below` on): a FAISS HNSW graph (flat vectors, inner product) searched with
  `ef_search` candidates. It goes back to exact below half of `exact_below` (not at once, so a gallery
  at the border does not rebuild on every change).

Why HNSW, measured on clustered synthetic galleries shaped like dlib's embeddings, five photos per
person (bench/bench_faces_index.py, one thread per query): an IVF-flat index (√n lists) reached recall@1
0.96 at 100 k faces only when visiting 10 % of its lists, and 0.974 at 1 M (96 of 1000 lists, p95 7.9
ms); HNSW reached 0.998 at 200 k faces with a p95 of 0.46 ms (ef_search 128), and 0.979 at 1 M (ef_search
256; the machine's two cores were shared with other work then, so its times are no guide). With one
photo per person (a watchlist's probe far from its single mate) HNSW does worse: 0.85 at 1 M (ef_search
512, p95 2.7 ms); at 100 k a graph built with ef_construction 256 instead of 64 (1.8x the build time)
raised it from 0.97 to 0.993. Measured again at 100 k faces with one photo each (one build thread, the
machine shared), M 48 and ef_construction 256 against M 32 and 64: recall@1 0.950 against 0.912 at
ef_search 128 and 0.968 against 0.956 at 256, queries no slower (3x and 2x faster than exact against 2x
and 1x), 2.2x the build time and 7 % more memory; so those are the defaults. The 1 M target is not yet
shown: see the benchmark's options. Its price is
removal: FAISS's HNSW cannot remove a vector. So removal is a tombstone: the slot is marked dead
in a bitmap that every approximate search passes to FAISS as an ID selector (dead entries are walked
through but never returned, so a removed or expired enrolment is gone from the very next search), and
the graph is rebuilt without them once dead slots reach a third of the graph (searching through many
dead nodes wastes time). Adding is incremental (HNSW inserts), so enrolments need no rebuild.

The index keeps its own copy of every vector (the slot arrays): exact search reads them, a rebuild
builds from them, and `save` writes them. That costs the vectors' size twice in approximate mode
(about 0.5 GiB more for 1 M faces of 128 floats).

Threads: any number of threads may search while one adds or removes. Searches and the mutations take
one lock; writers are also serialised by a second lock, under which a rebuild (the slow part: building
a graph over the whole gallery, minutes at 1 M faces) runs without the first, so searches go on against
the old graph meanwhile and see the new one once it is swapped in whole. Large batches are inserted into
a live graph a chunk at a time, so searches interleave with a bulk load.
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
DEFAULT_EF_SEARCH = 256  # candidates per HNSW search (recall against speed: see the benchmark)
HNSW_M = 48  # graph links per node: the top of FAISS's recommended range for 128-d vectors
HNSW_EF_CONSTRUCTION = 256  # candidates while linking: more builds a better graph, more slowly
INSERT_CHUNK = 10_000  # faces inserted into a live graph under one hold of the lock
MAGIC = b"SAFECITY-FACEINDEX\n"
FORMAT_VERSION = 1
_HEADER_LENGTH = struct.Struct(">I")
_MAX_HEADER = 1 << 16


class FaceIndexError(ValueError):
    """A file that is not a face index, is damaged, or does not match what was asked for."""


class FaceIndex:
    """Enrolled faces by enrolment id, searched by cosine score; exact or approximate by size."""

    def __init__(
        self,
        dim: int = 128,
        *,
        exact_below: int = DEFAULT_EXACT_BELOW,
        ef_search: int = DEFAULT_EF_SEARCH,
        hnsw_m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
    ) -> None:
        if dim < 1:
            raise ValueError("dim must be at least 1")
        if exact_below < 2:
            raise ValueError("exact_below must be at least 2")
        if ef_search < 1:
            raise ValueError("ef_search must be at least 1")
        if hnsw_m < 2 or ef_construction < 1:
            raise ValueError("hnsw_m must be at least 2 and ef_construction at least 1")
        self.dim = dim
        self.exact_below = exact_below
        self.hnsw_m = hnsw_m  # the graph's shape, used by the next build (a loaded graph keeps its own)
        self.ef_construction = ef_construction
        self.stamp = ""  # which state of the database this copy reflects: set by `save`, read by `load`
        self._ef_search = ef_search
        self._lock = threading.Lock()  # searches and the mutations of the state
        self._write_lock = threading.Lock()  # one writer at a time (add, remove, save)
        self._vectors: Vectors = np.zeros((0, dim), dtype=np.float32)
        self._keys: npt.NDArray[np.uint8] = np.zeros((0, 16), dtype=np.uint8)  # each slot's UUID, as bytes
        self._live: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._count = 0  # slots in use (live or dead)
        self._slots: dict[uuid.UUID, int] = {}
        self._graph: Any = None  # faiss.IndexHNSWFlat over slots 0.._count-1 (its ids are the slots)

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
        return "exact" if self._graph is None else "approximate"

    @property
    def ef_search(self) -> int:
        """How many candidates an approximate search keeps (more: better recall, slower)."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if value < 1:
            raise ValueError("ef_search must be at least 1")
        with self._lock:
            self._ef_search = value

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
            scores, slots = self._approximate(q, k) if self._graph is not None else self._exact(q, k)
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
        """HNSW top-k, dead slots filtered out by FAISS itself (called under the lock)."""
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from faiss's stub
        params.efSearch = max(self._ef_search, k)
        if len(self._slots) < self._count:
            # The bitmap must outlive the search: FAISS only holds a pointer to it.
            bitmap = np.packbits(self._live[: self._count], bitorder="little")
            params.sel = faiss.IDSelectorBitmap(self._count, faiss.swig_ptr(bitmap))
        scores, slots = self._graph.search(q, k, params=params)
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
        """New slots at the end, and (in approximate mode) in the graph, whose ids follow the slots."""
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
            if self._graph is not None:
                self._graph.add(v)

    def remove(self, keys: Iterable[uuid.UUID]) -> int:
        """Take enrolments out (unknown keys are ignored); returns how many were removed."""
        with self._write_lock:
            removed = self._remove_locked(list(keys))
            self._maintain()
            return removed

    def _remove_locked(self, keys: list[uuid.UUID]) -> int:
        """Kill slots under the write lock: exact search masks them, approximate search filters them."""
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
        """Switch modes, or rebuild without the dead, when the gallery has changed enough (write lock)."""
        live = len(self._slots)
        dead = self._count - live
        if self._graph is None:
            if live >= self.exact_below:
                self._rebuild(approximate=True)
            elif dead > max(live, 1024):
                self._rebuild(approximate=False)
        elif live < self.exact_below // 2:
            self._rebuild(approximate=False)
        elif 3 * dead >= self._count:
            self._rebuild(approximate=True)

    def _rebuild(self, *, approximate: bool) -> None:
        """Compact the slots and (in approximate mode) build a new graph off the lock; swap both in whole.

        Only writers change the state and the write lock is held, so reading it here without the
        search lock is safe; searches meanwhile use the old arrays and graph.
        """
        live_slots = np.flatnonzero(self._live[: self._count])
        vectors = self._vectors[live_slots]  # fancy indexing: new arrays, the old stay intact
        keys = self._keys[live_slots]
        n = len(live_slots)
        graph = _build_graph(vectors, self.hnsw_m, self.ef_construction) if approximate else None
        slots = {uuid.UUID(bytes=keys[i].tobytes()): i for i in range(n)}
        with self._lock:
            self._vectors, self._keys = vectors, keys
            self._live = np.ones(n, dtype=bool)
            self._count = n
            self._slots = slots
            self._graph = graph

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
            graph = b"" if self._graph is None else faiss.serialize_index(self._graph).tobytes()
            parts = (
                self._keys[: self._count].tobytes(),
                np.packbits(self._live[: self._count]).tobytes(),
                self._vectors[: self._count].tobytes(),
                graph,
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
                    "ef_search": self._ef_search,
                    "hnsw_m": self.hnsw_m,
                    "ef_construction": self.ef_construction,
                    "graph_bytes": len(graph),
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
            payload = count * 16 + (count + 7) // 8 + count * dim * 4 + header["graph_bytes"]
            if payload != os.fstat(source.fileno()).st_size - source.tell():
                raise FaceIndexError(f"{path} is truncated or has the wrong size")
            parts = (
                _read(source, count * 16, path),
                _read(source, (count + 7) // 8, path),
                _read(source, count * dim * 4, path),
                _read(source, header["graph_bytes"], path),
            )
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        if digest.hexdigest() != header["sha256"]:
            raise FaceIndexError(f"{path}: checksum mismatch (the file is damaged)")
        index = cls(
            dim,
            exact_below=header["exact_below"],
            ef_search=header["ef_search"],
            hnsw_m=header["hnsw_m"],
            ef_construction=header["ef_construction"],
        )
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
            index._graph = _load_graph(parts[3], dim, count, path)
        return index


def _build_graph(vectors: Vectors, m: int, ef_construction: int) -> Any:
    """An HNSW inner-product graph over `vectors` (ids = row numbers)."""
    graph = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = ef_construction
    graph.add(vectors)
    return graph


def _load_graph(data: bytes, dim: int, count: int, path: Path) -> Any:
    """The serialised graph, checked against what the header says it holds."""
    try:
        graph = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as error:
        raise FaceIndexError(f"{path}: the approximate index is damaged") from error
    if not isinstance(graph, faiss.IndexHNSWFlat) or graph.d != dim or graph.ntotal != count:
        raise FaceIndexError(f"{path}: the approximate index does not match the faces stored")
    return graph


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
    for name in (
        "dim",
        "count",
        "live",
        "exact_below",
        "ef_search",
        "hnsw_m",
        "ef_construction",
        "graph_bytes",
    ):
        value = header.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FaceIndexError(f"{path}: damaged header ({name})")
    if header["dim"] < 1 or header["exact_below"] < 2 or header["ef_search"] < 1 or header["hnsw_m"] < 2:
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
