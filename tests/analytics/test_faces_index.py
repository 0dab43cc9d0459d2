"""The 1:N face index: exact and approximate search agree, enrolments come and go, the file survives."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from safecity.analytics.faces.index import MAGIC, FaceIndex, FaceIndexError

DIM = 128
Vectors = npt.NDArray[np.float32]


def _normalise(v: Vectors) -> Vectors:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


class Population:
    """Identities shaped like dlib embeddings: around a common mean (different people score ~0.6), with
    most variance in a few directions, and photos of one person scoring ~0.95 with its identity."""

    def __init__(self, identities: int, seed: int = 3) -> None:
        self.rng = np.random.default_rng(seed)
        spectrum = 1.0 / np.sqrt(np.arange(1, DIM + 1))
        self.scale = (spectrum / np.linalg.norm(spectrum)).astype(np.float32)
        self.rotation = np.linalg.qr(self.rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
        mean = self._offsets(1)[0]
        self.centres = _normalise(1.22 * mean / np.linalg.norm(mean) + self._offsets(identities))

    def _offsets(self, n: int) -> Vectors:
        out: Vectors = (self.rng.standard_normal((n, DIM)).astype(np.float32) * self.scale) @ self.rotation
        return out

    def photos(self, identities: npt.NDArray[np.int64]) -> Vectors:
        return _normalise(self.centres[identities] + 0.33 * self._offsets(len(identities)))


@pytest.fixture(scope="module")
def gallery() -> tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors]:
    """400 identities, 5 enrolment photos: (population, keys, owner of each key, vectors)."""
    population = Population(400)
    owners = np.repeat(np.arange(400), 5)
    return population, [uuid.uuid4() for _ in owners], owners, population.photos(owners)


def _filled(keys: list[uuid.UUID], vectors: Vectors, *, exact_below: int) -> FaceIndex:
    index = FaceIndex(DIM, exact_below=exact_below)
    index.add(keys, vectors)
    return index


def test_exact_and_approximate_give_the_same_top1(
    gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors],
) -> None:
    population, keys, owners, vectors = gallery
    exact = _filled(keys, vectors, exact_below=10_000)
    approximate = _filled(keys, vectors, exact_below=100)
    assert (exact.mode, approximate.mode) == ("exact", "approximate")
    wanted = np.random.default_rng(5).integers(0, 400, 300)
    queries = population.photos(wanted)  # new photos of enrolled people, as a camera sees them

    truth = exact.search(queries, k=5)
    found = approximate.search(queries, k=5)

    owner_of = dict(zip(keys, owners, strict=True))
    brute = queries @ vectors.T
    for row, (want, hits) in enumerate(zip(truth, found, strict=True)):
        assert want[0][0] == keys[int(brute[row].argmax())]  # exact mode is exact
        assert want[0][1] == pytest.approx(float(brute[row].max()), abs=1e-5)
        assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
        assert owner_of[want[0][0]] == wanted[row]  # the right person is found at all
    agree = sum(want[0][0] == hits[0][0] for want, hits in zip(truth, found, strict=True))
    assert agree / len(queries) >= 0.99
    # Wherever they differ, the approximate answer is a near-tie of the same person, never a stranger.
    for row, (want, hits) in enumerate(zip(truth, found, strict=True)):
        assert owner_of[hits[0][0]] == wanted[row]
        assert hits[0][1] <= want[0][1] + 1e-5


@pytest.mark.parametrize("exact_below", [10_000, 100])
def test_add_remove_search(
    exact_below: int, gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors]
) -> None:
    _, keys, _, vectors = gallery
    index = _filled(keys, vectors, exact_below=exact_below)
    assert len(index) == len(keys)
    assert keys[7] in index
    assert uuid.uuid4() not in index
    (hit,) = index.search(vectors[7], k=1)[0]  # a single vector is one query
    assert hit[0] == keys[7]
    assert hit[1] == pytest.approx(1.0, abs=1e-5)

    gone = keys[:600]  # under a third: in approximate mode their codes stay, as tombstones
    assert index.remove([*gone, uuid.uuid4()]) == len(gone)  # unknown keys are ignored
    assert len(index) == len(keys) - len(gone)
    assert keys[7] not in index
    everything = index.search(vectors[:600], k=50)  # each query is a removed face itself
    assert not {key for hits in everything for key, _ in hits} & set(gone)
    assert all(len(hits) == 50 for hits in everything)
    assert index.search(vectors[1500], k=1)[0][0][0] == keys[1500]

    # Adding a key again replaces its vector: the old one no longer answers.
    index.add([keys[1500]], vectors[1600:1601])
    assert len(index) == len(keys) - len(gone)
    hits = index.search(vectors[1500], k=len(index))[0]
    assert [score for key, score in hits if key == keys[1500]] == pytest.approx(
        [float(vectors[1500] @ vectors[1600])], abs=1e-5
    )


@pytest.mark.parametrize("exact_below", [10_000, 100])
def test_a_copy_changes_without_the_original(
    exact_below: int, gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors]
) -> None:
    _, keys, _, vectors = gallery
    original = _filled(keys[:1500], vectors[:1500], exact_below=exact_below)
    twin = original.copy()
    assert (twin.mode, len(twin)) == (original.mode, 1500)
    twin.remove(keys[:10])
    twin.add(keys[1500:], vectors[1500:])  # encoded with the codebooks the original learnt
    assert (len(original), len(twin)) == (1500, 1990)
    assert original.search(vectors[3], k=1)[0][0][0] == keys[3]  # still there in the original
    assert twin.search(vectors[3], k=1)[0][0][0] != keys[3]
    assert original.search(vectors[1700], k=1)[0][0][0] != keys[1700]  # new in the copy only
    assert twin.search(vectors[1700], k=1)[0][0][0] == keys[1700]


def test_a_small_gallery_returns_what_it_has() -> None:
    index = FaceIndex(DIM)
    assert index.search(np.ones((2, DIM), dtype=np.float32), k=3) == [[], []]
    key = uuid.uuid4()
    index.add([key], np.ones((1, DIM)) * 5)  # normalised on the way in
    assert index.search(np.ones(DIM), k=3) == [[(key, pytest.approx(1.0))]]


def test_bad_input_is_refused() -> None:
    index = FaceIndex(DIM)
    key = uuid.uuid4()
    with pytest.raises(ValueError, match="128 values"):
        index.add([key], np.ones((1, 64)))
    with pytest.raises(ValueError, match="finite"):
        index.add([key], np.full((1, DIM), np.nan))
    with pytest.raises(ValueError, match="zero vector"):
        index.add([key], np.zeros((1, DIM)))
    with pytest.raises(ValueError, match="twice"):
        index.add([key, key], np.ones((2, DIM)))
    with pytest.raises(ValueError, match="1 keys for 2 vectors"):
        index.add([key], np.ones((2, DIM)))
    with pytest.raises(TypeError):
        index.add([str(key)], np.ones((1, DIM)))  # type: ignore[list-item]
    with pytest.raises(ValueError, match="k must"):
        index.search(np.ones(DIM), k=0)
    assert len(index) == 0


def test_switches_mode_as_the_gallery_grows_and_shrinks(
    gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors],
) -> None:
    _, keys, _, vectors = gallery
    index = FaceIndex(DIM, exact_below=400)
    index.add(keys[:399], vectors[:399])
    assert index.mode == "exact"
    index.add(keys[399:400], vectors[399:400])
    assert index.mode == "approximate"
    index.add(keys[400:2000], vectors[400:2000])  # past twice the trained size: retrained, still right
    assert index.mode == "approximate"
    assert index.search(vectors[1999], k=1)[0][0][0] == keys[1999]
    index.remove(keys[:1801])  # 199 left: below half of exact_below
    assert index.mode == "exact"
    assert len(index) == 199
    assert index.search(vectors[1900], k=1)[0][0][0] == keys[1900]
    assert not {key for key, _ in index.search(vectors[5], k=199)[0]} & set(keys[:1801])


@pytest.mark.parametrize("exact_below", [10_000, 100])
def test_save_and_load(
    tmp_path: Path,
    exact_below: int,
    gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors],
) -> None:
    _, keys, _, vectors = gallery
    index = FaceIndex(DIM, exact_below=exact_below, candidates=64)
    index.add(keys, vectors)
    index.remove(keys[:10])
    path = tmp_path / "faces.index"
    index.save(path, stamp="enrolments@42")
    index.save(path, stamp="enrolments@43")  # replaces the file
    assert [p.name for p in tmp_path.iterdir()] == ["faces.index"]  # no temporary file left behind

    loaded = FaceIndex.load(path)
    assert loaded.stamp == "enrolments@43"
    assert (loaded.mode, len(loaded), loaded.exact_below, loaded.candidates) == (
        index.mode,
        len(index),
        exact_below,
        64,
    )
    assert keys[0] not in loaded
    assert keys[10] in loaded
    assert loaded.search(vectors[:300], k=3) == index.search(vectors[:300], k=3)
    # The loaded copy keeps working: it removes and adds like the original.
    loaded.remove(keys[10:20])
    loaded.add([keys[0]], vectors[:1])
    assert loaded.search(vectors[0], k=1)[0][0][0] == keys[0]
    assert not {key for key, _ in loaded.search(vectors[10:20], k=20)[0]} & set(keys[10:20])


@pytest.mark.parametrize("exact_below", [10_000, 100])
def test_a_damaged_or_foreign_file_is_refused(
    tmp_path: Path,
    exact_below: int,
    gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors],
) -> None:
    _, keys, _, vectors = gallery
    path = tmp_path / "faces.index"
    _filled(keys, vectors, exact_below=exact_below).save(path, stamp="s")
    good = path.read_bytes()

    flipped = bytearray(good)
    flipped[-100] ^= 0x01  # one bit of the payload
    cases = {
        "flipped": (bytes(flipped), "checksum"),
        "truncated": (good[:-1], "truncated"),
        "longer": (good + b"\0", "wrong size"),
        "foreign": (b"PK\x03\x04 a zip file, not an index", "not a face index"),
        "empty": (b"", "not a face index"),
        "header": (MAGIC + b"\x00\x00\x00\x05{nope", "damaged header"),
        "version": (MAGIC + b'\x00\x00\x00\x0e{"version": 9}', "unknown face index format"),
        "huge": (MAGIC + b"\xff\xff\xff\xff", "damaged header"),
    }
    for name, (data, message) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(data)
        with pytest.raises(FaceIndexError, match=message):
            FaceIndex.load(bad)


def test_searches_go_on_while_another_thread_adds(
    gallery: tuple[Population, list[uuid.UUID], npt.NDArray[np.int64], Vectors],
) -> None:
    _, keys, _, vectors = gallery
    index = FaceIndex(DIM, exact_below=300)  # the adds cross the switch and two retrainings
    index.add(keys[:50], vectors[:50])
    errors: list[BaseException] = []
    seen: set[uuid.UUID] = set()
    done = threading.Event()

    def searcher() -> None:
        try:
            while not done.is_set():
                for hits in index.search(vectors[:50], k=3):
                    assert len(hits) == 3
                    seen.update(key for key, _ in hits)
        except BaseException as error:  # collected and re-raised in the test's thread
            errors.append(error)

    thread = threading.Thread(target=searcher)
    thread.start()
    for start in range(50, 2000, 25):
        index.add(keys[start : start + 25], vectors[start : start + 25])
    index.remove(keys[1000:])
    done.set()
    thread.join()
    assert not errors
    assert seen <= set(keys)
    assert index.mode == "approximate"
    assert len(index) == 1000
    assert index.search(vectors[:50], k=1) == [[(k, pytest.approx(1.0, abs=1e-5))] for k in keys[:50]]
