"""Verification error rates of the face engine on a labelled set of pictures: what the operators are shown.

A set is a folder with the pictures, `labels.csv` (file,identity[,group]) and optionally `pairs.csv`
(file_a,file_b,same_identity). Without pairs.csv every same-identity pair is used, with as many
different-identity pairs drawn at random (seeded, so two runs measure the same pairs).

A pair in which either picture shows no face has no score: it counts as "not the same person", so a
genuine pair without a face is a false non-match, as it would be at a camera.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FOLDS = 10
FAR_POINTS = (0.01, 0.001)


class EvaluationSetError(ValueError):
    """The folder is not an evaluation set (no labels.csv, malformed rows, no pairs of one kind)."""


@dataclass(frozen=True)
class Pair:
    """Two pictures of the set (paths relative to its folder) and whether they show the same person."""

    a: str
    b: str
    same: bool


@dataclass(frozen=True)
class EvaluationSet:
    """The pictures of a set with their identity and group, and the pairs to verify."""

    folder: Path
    identities: dict[str, str]
    groups: dict[str, str]  # empty when labels.csv has no group column
    pairs: tuple[Pair, ...]

    def files(self) -> list[str]:
        """Every picture that appears in a pair, once, in the order first used."""
        return list(dict.fromkeys(name for pair in self.pairs for name in (pair.a, pair.b)))


@dataclass(frozen=True)
class GroupRates:
    """The error rates at the configured threshold over the pairs whose two pictures are of one group."""

    group: str
    pairs: int
    genuine_pairs: int
    impostor_pairs: int
    accuracy: float
    fmr: float | None  # false match rate: impostor pairs accepted (None: no impostor pair in the group)
    fnmr: float | None  # false non-match rate: genuine pairs refused (None: no genuine pair)


@dataclass(frozen=True)
class Evaluation:
    """Verification figures of one set, flat so a page or a JSON reader takes them as they are.

    Rates are fractions (0-1). `cv_*` come from 10-fold cross-validation: on each fold the threshold that
    is most accurate on the other nine is applied to it. `tar_at_far_*` is the true accept rate at the
    lowest threshold whose false accept rate stays at or below 1 % and 0.1 % (null when the set has too
    few impostor pairs to measure that rate), with the threshold that gives it.
    """

    pairs: int
    genuine_pairs: int
    impostor_pairs: int
    pairs_without_face: int  # either picture had no face found: scored as "not the same person"
    threshold: float  # the configured same-person threshold
    accuracy: float  # at the configured threshold
    fmr: float  # false match rate at the configured threshold
    fnmr: float  # false non-match rate at the configured threshold
    cv_accuracy: float
    cv_accuracy_std: float
    cv_threshold: float  # the mean of the ten folds' chosen thresholds
    tar_at_far_1pct: float | None
    threshold_at_far_1pct: float | None
    tar_at_far_0_1pct: float | None
    threshold_at_far_0_1pct: float | None
    groups: tuple[GroupRates, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The figures as one JSON object; `groups` is a list of flat objects, one per group."""
        data = asdict(self)
        data["groups"] = [asdict(g) for g in self.groups]
        return data


def load_set(folder: Path, *, seed: int = 0) -> EvaluationSet:
    """The evaluation set in `folder` (labels.csv, optional pairs.csv); EvaluationSetError if not one."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise EvaluationSetError(f"{folder}: no labels.csv (file,identity[,group])")
    identities: dict[str, str] = {}
    groups: dict[str, str] = {}
    with labels.open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            name, identity = (row.get("file") or "").strip(), (row.get("identity") or "").strip()
            if not name or not identity:
                raise EvaluationSetError(f"{labels}: every row needs a file and an identity")
            identities[name] = identity
            if row.get("group"):
                groups[name] = row["group"].strip()
    pairs_file = folder / "pairs.csv"
    pairs = _read_pairs(pairs_file) if pairs_file.is_file() else _all_pairs(identities, seed)
    if not any(p.same for p in pairs) or all(p.same for p in pairs):
        raise EvaluationSetError(f"{folder}: needs both same-identity and different-identity pairs")
    return EvaluationSet(folder=folder, identities=identities, groups=groups, pairs=tuple(pairs))


def _read_pairs(path: Path) -> list[Pair]:
    pairs = []
    with path.open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            a, b = (row.get("file_a") or "").strip(), (row.get("file_b") or "").strip()
            flag = (row.get("same_identity") or "").strip().lower()
            if not a or not b or flag not in ("0", "1", "true", "false"):
                raise EvaluationSetError(f"{path}: rows are file_a,file_b,same_identity (1 or 0)")
            pairs.append(Pair(a, b, flag in ("1", "true")))
    return pairs


def _all_pairs(identities: dict[str, str], seed: int) -> list[Pair]:
    """Every same-identity pair and as many distinct different-identity pairs, drawn with `seed`."""
    by_identity: dict[str, list[str]] = {}
    for name, identity in identities.items():
        by_identity.setdefault(identity, []).append(name)
    same = [Pair(a, b, True) for names in by_identity.values() for a, b in itertools.combinations(names, 2)]
    names = sorted(identities)
    possible = len(names) * (len(names) - 1) // 2 - len(same)
    rng = np.random.default_rng(seed)
    chosen: set[tuple[str, str]] = set()
    while len(chosen) < min(len(same), possible):
        first, second = rng.choice(len(names), size=2, replace=False)
        a, b = sorted((names[int(first)], names[int(second)]))
        if identities[a] != identities[b]:
            chosen.add((a, b))
    return same + [Pair(a, b, False) for a, b in sorted(chosen)]


def evaluate(
    scores: Sequence[float | None],
    same: Sequence[bool],
    *,
    threshold: float,
    groups: Sequence[str | None] | None = None,
    seed: int = 0,
) -> Evaluation:
    """The verification figures of scored pairs.

    Args:
        scores: one score per pair (cosine similarity), None when a picture had no face.
        same: whether each pair shows one person.
        threshold: the configured same-person threshold.
        groups: the group of each pair (None: the pair spans groups or has none).
        seed: for the cross-validation folds.

    Returns:
        The Evaluation.
    """
    if len(scores) != len(same) or not scores:
        raise ValueError("one score per pair, at least one pair")
    values = np.array([-np.inf if s is None else s for s in scores], dtype=np.float64)
    truth = np.array(same, dtype=bool)
    genuine, impostor = values[truth], values[~truth]
    accepted = values >= threshold
    cv_accuracies, cv_thresholds = _cross_validate(values, truth, seed)
    far_points = [_tar_at_far(genuine, impostor, far) for far in FAR_POINTS]
    return Evaluation(
        pairs=len(values),
        genuine_pairs=int(truth.sum()),
        impostor_pairs=int((~truth).sum()),
        pairs_without_face=sum(s is None for s in scores),
        threshold=threshold,
        accuracy=float((accepted == truth).mean()),
        fmr=_rate(accepted[~truth]),
        fnmr=_rate(~accepted[truth]),
        cv_accuracy=float(np.mean(cv_accuracies)),
        cv_accuracy_std=float(np.std(cv_accuracies)),
        cv_threshold=float(np.mean(cv_thresholds)),
        tar_at_far_1pct=far_points[0][0],
        threshold_at_far_1pct=far_points[0][1],
        tar_at_far_0_1pct=far_points[1][0],
        threshold_at_far_0_1pct=far_points[1][1],
        groups=_group_rates(accepted, truth, groups) if groups is not None else (),
    )


def _rate(flags: npt.NDArray[np.bool_]) -> float:
    return float(flags.mean()) if flags.size else 0.0


def _best_threshold(values: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_]) -> float:
    """The threshold most accurate on these pairs: midway between two neighbouring scores."""
    finite = np.unique(values[np.isfinite(values)])
    if finite.size == 0:
        return 0.0
    candidates = np.concatenate(([finite[0] - 1e-6], (finite[1:] + finite[:-1]) / 2, [finite[-1] + 1e-6]))
    order = np.sort(values[truth])
    others = np.sort(values[~truth])
    # accepted genuine = those >= t; refused impostors = those < t (counted by binary search, not a loop)
    right = order.size - np.searchsorted(order, candidates, side="left")
    rejected = np.searchsorted(others, candidates, side="left")
    return float(candidates[int(np.argmax(right + rejected))])


def _cross_validate(
    values: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_], seed: int
) -> tuple[list[float], list[float]]:
    folds = np.random.default_rng(seed).permutation(values.size) % min(FOLDS, values.size)
    accuracies, thresholds = [], []
    for fold in range(int(folds.max()) + 1):
        test = folds == fold
        chosen = _best_threshold(values[~test], truth[~test]) if (~test).any() else 0.0
        accuracies.append(float(((values[test] >= chosen) == truth[test]).mean()))
        thresholds.append(chosen)
    return accuracies, thresholds


def _tar_at_far(
    genuine: npt.NDArray[np.float64], impostor: npt.NDArray[np.float64], far: float
) -> tuple[float | None, float | None]:
    """TAR at the lowest threshold whose FAR is at most `far`, and it (None: too few impostors)."""
    if impostor.size < round(1 / far) or genuine.size == 0:
        return None, None
    allowed = int(np.floor(far * impostor.size))  # impostors that may score at or above the threshold
    ranked = np.sort(impostor)[::-1]
    limit = ranked[allowed]  # the threshold must lie above this impostor's score
    if not np.isfinite(limit):
        return float((genuine > -np.inf).mean()), None
    chosen = float(np.nextafter(limit, np.inf))
    return float((genuine >= chosen).mean()), chosen


def _group_rates(
    accepted: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_], groups: Sequence[str | None]
) -> tuple[GroupRates, ...]:
    names = sorted({g for g in groups if g is not None})
    rates = []
    for name in names:
        mask = np.array([g == name for g in groups], dtype=bool)
        yes, no = mask & truth, mask & ~truth
        rates.append(
            GroupRates(
                group=name,
                pairs=int(mask.sum()),
                genuine_pairs=int(yes.sum()),
                impostor_pairs=int(no.sum()),
                accuracy=float((accepted[mask] == truth[mask]).mean()),
                fmr=float(accepted[no].mean()) if no.any() else None,
                fnmr=float((~accepted[yes]).mean()) if yes.any() else None,
            )
        )
    return tuple(rates)


def pair_groups(dataset: EvaluationSet) -> list[str | None] | None:
    """Each pair's group (when both pictures share one), or None when the set has no groups."""
    if not dataset.groups:
        return None
    result: list[str | None] = []
    for pair in dataset.pairs:
        first, second = dataset.groups.get(pair.a), dataset.groups.get(pair.b)
        result.append(first if first is not None and first == second else None)
    return result
