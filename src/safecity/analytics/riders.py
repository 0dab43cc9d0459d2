"""Riders: a person on a motorcycle or bicycle is part of that vehicle, not a pedestrian.

Detectors report the rider and the machine as two objects (or the rider alone). Counting, rules and
later checks (helmets) want one road user: the vehicle, with its box around machine and riders and the
riders kept as an attribute (`riders`: how many, `rider_boxes`: where).
"""

from __future__ import annotations

import numpy as np

from safecity.analytics.types import CLASS_IDS, PERSON, Detections, FloatArray

RIDDEN: frozenset[int] = frozenset({CLASS_IDS["motorcycle"], CLASS_IDS["bicycle"]})
MIN_SHARE = 0.2  # of the person's box that must lie on the vehicle's


def _rides(person: FloatArray, vehicle: FloatArray) -> float:
    """How well the person's box sits in a rider's place on the vehicle's (0: not at all)."""
    px1, py1, px2, py2 = person
    vx1, vy1, vx2, vy2 = vehicle
    vw, vh = vx2 - vx1, vy2 - vy1
    if vw <= 0 or vh <= 0 or px2 - px1 > 2 * vw:
        return 0.0
    centre = (px1 + px2) / 2
    if not vx1 - 0.25 * vw <= centre <= vx2 + 0.25 * vw:
        return 0.0  # not above the machine
    if not (py1 < vy1 + 0.5 * vh and vy1 + 0.2 * vh < py2 <= vy2 + 0.15 * vh):
        return 0.0  # head above the saddle, legs down into the machine, feet not far below its wheels
    ix = min(px2, vx2) - max(px1, vx1)
    iy = min(py2, vy2) - max(py1, vy1)
    share = max(0.0, ix) * max(0.0, iy) / max(1e-6, (px2 - px1) * (py2 - py1))
    return float(share) if share >= MIN_SHARE else 0.0


def merge_riders(found: Detections) -> Detections:
    """Each person riding a detected motorcycle or bicycle folded into it (box grown to hold them).

    Args:
        found: one frame's detections (after NMS).

    Returns:
        The same detections without the riders' own boxes, in the same order; a ridden vehicle's box
        covers machine and riders and its attributes say `riders` (count) and `rider_boxes`.
    """
    vehicles = np.flatnonzero(np.isin(found.classes, list(RIDDEN)))
    people = np.flatnonzero(found.classes == PERSON)
    if not len(vehicles) or not len(people):
        return found
    boxes = found.boxes.copy()
    riders: dict[int, list[int]] = {}
    for p in people:
        fits = [_rides(found.boxes[p], found.boxes[v]) for v in vehicles]
        best = int(np.argmax(fits))
        if fits[best] > 0:
            riders.setdefault(int(vehicles[best]), []).append(int(p))
    if not riders:
        return found
    attributes = list(found.attributes)
    for v, on in riders.items():
        boxes[v, :2] = np.minimum(boxes[v, :2], found.boxes[on, :2].min(axis=0))
        boxes[v, 2:] = np.maximum(boxes[v, 2:], found.boxes[on, 2:].max(axis=0))
        attributes[v] = {
            **attributes[v],
            "riders": len(on),
            "rider_boxes": [[round(float(c)) for c in found.boxes[p]] for p in on],
        }
    gone = {p for on in riders.values() for p in on}
    merged = Detections(boxes, found.scores, found.classes, found.track_ids, tuple(attributes))
    return merged.take(np.array([i for i in range(len(found)) if i not in gone], dtype=np.int64))
