"""PETS09-S2L1 counting ground truth, shared by scripts/eval/evaluate_tracking.py and
benches/python/peer.py: a site file's zones in pixels, and the crossings of each annotated
person's feet (bottom centre of the box) between consecutive annotated rows, by the rule of
pipeline/tests/count_video.rs (lintel_calibration::geometry). Needs numpy.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np


def fail(message: str) -> None:
    raise SystemExit(message)


def load_zones(site_path: Path, camera: str, width: int, height: int) -> list[dict]:
    """The camera's zones in pixels, scaled in float32 like lintel_calibration's Point::scale."""
    if not site_path.is_file():
        fail(f"{site_path}: no such site file")
    site = tomllib.loads(site_path.read_text())
    zones = []
    for z in site.get("zone", []):
        if z.get("camera") != camera:
            continue
        points = [(np.float32(x) * np.float32(width), np.float32(y) * np.float32(height)) for x, y in z["points"]]
        zones.append({"name": z["name"], "kind": z.get("kind", "line"), "points": points,
                      "entry_side": z.get("entry_side", "right")})
    if not zones:
        fail(f"{site_path}: no zone for camera {camera!r}")
    return zones


def orient(p, q, r) -> float:
    """Twice the signed area of p, q, r: positive when r is right of p->q on the screen (y down)."""
    if (q[0], q[1]) < (p[0], p[1]):
        return -orient(q, p, r)
    px, py = float(p[0]), float(p[1])
    return (float(q[0]) - px) * (float(r[1]) - py) - (float(q[1]) - py) * (float(r[0]) - px)


def line_crossing(zone: dict, start, end) -> str | None:
    a, b = zone["points"]
    sign = 1.0 if zone["entry_side"] == "right" else -1.0
    from_inside = sign * orient(a, b, start) > 0.0
    to_inside = sign * orient(a, b, end) > 0.0
    if from_inside == to_inside:
        return None
    at_a, at_b = orient(start, end, a), orient(start, end, b)
    if (at_a > 0.0 and at_b > 0.0) or (at_a < 0.0 and at_b < 0.0):
        return None
    return "in" if to_inside else "out"


def polygon_contains(points, p) -> bool:
    edges = list(zip(points, points[1:] + points[:1]))
    for u, v in edges:
        if (orient(u, v, p) == 0.0 and min(u[0], v[0]) <= p[0] <= max(u[0], v[0])
                and min(u[1], v[1]) <= p[1] <= max(u[1], v[1])):
            return True
    inside = False
    for u, v in edges:
        if (u[1] <= p[1]) != (v[1] <= p[1]):
            o = orient(u, v, p)
            if (v[1] > u[1] and o > 0.0) or (v[1] < u[1] and o < 0.0):
                inside = not inside
    return inside


def ground_truth_counts(gt_path: Path, zones: list[dict]) -> dict[str, dict[str, int]]:
    """Per zone, crossings of each person's feet (bottom centre) between consecutive annotated rows."""
    if not gt_path.is_file():
        fail(f"{gt_path}: ground truth missing (fixtures/PETS09-S2L1-gt.txt is in git)")
    rows = []
    for line in gt_path.read_text().splitlines():
        if line.strip():
            f = [np.float32(v) for v in line.split(",")]
            rows.append((int(f[1]), int(f[0]), (f[2] + f[4] / np.float32(2.0), f[3] + f[5])))
    rows.sort(key=lambda r: (r[0], r[1]))
    paths = defaultdict(list)
    for ident, _, feet in rows:
        paths[ident].append(feet)
    counts = {}
    for zone in zones:
        c = {"in": 0, "out": 0}
        for path in paths.values():
            for start, end in zip(path, path[1:]):
                if zone["kind"] == "line":
                    crossing = line_crossing(zone, start, end)
                else:
                    was, now = polygon_contains(zone["points"], start), polygon_contains(zone["points"], end)
                    crossing = "in" if (not was and now) else "out" if (was and not now) else None
                if crossing:
                    c[crossing] += 1
        counts[zone["name"]] = c
    return counts
