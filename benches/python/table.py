#!/usr/bin/env python3
"""Summarises the interleaved rounds of benches/python-peer: one directory of JSON files per model.

Files are named ROUND-WHAT.json with WHAT in limit (peer.py --model-only), peer (peer.py) and
lintel (`lintel count --json`). Prints frames/s of the clip (median over rounds, and the range; when
Lintel analyses fewer frames than the clip has, with `--fps`, its rate is still the clip's frames
over its time), the ratios of the medians, the per-round ratios (each round's runs were back to back, so these are the ones to
trust on a noisy machine), the peer's time split, and the counts of both next to the ground truth.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path


def load(directory: Path, what: str, optional: bool = False) -> list[dict]:
    files = sorted(directory.glob(f"*-{what}.json"), key=lambda p: int(p.name.split("-")[0]))
    if not files and not optional:
        raise SystemExit(f"table.py: no {what} results in {directory}")
    return [json.loads(f.read_text()) for f in files]


def clip_fps(lintel: dict, clip_frames: int) -> float:
    """Lintel's rate through the clip: every frame analysed, or fewer of them with `--fps`."""
    if lintel["frames"] > clip_frames:
        raise SystemExit(f"table.py: lintel analysed {lintel['frames']} frames of a {clip_frames}-frame clip")
    return clip_frames / lintel["elapsed_s"]


def main() -> None:
    directory = Path(sys.argv[1])
    limit, peer, lintel = load(directory, "limit"), load(directory, "peer"), load(directory, "lintel")
    limit_cut = load(directory, "limitcut", optional=True)
    rounds = min(len(limit), len(peer), len(lintel), *([len(limit_cut)] if limit_cut else []))
    fps = {
        "limit": [r["fps"] for r in limit[:rounds]],
        "peer": [r["fps"] for r in peer[:rounds]],
        "lintel": [clip_fps(r, peer[0]["frames"]) for r in lintel[:rounds]],
    }
    if limit_cut:
        fps["limit-cut"] = [r["fps"] for r in limit_cut[:rounds]]
    for r in peer:
        if r["frames"] != peer[0]["frames"]:
            raise SystemExit(f"table.py: runs analysed different numbers of frames: {r['frames']} vs {peer[0]['frames']}")
    loads = [(directory / f"{i + 1}-load.txt") for i in range(rounds)]
    loads = [p.read_text().strip() if p.exists() else "?" for p in loads]
    med = {k: statistics.median(v) for k, v in fps.items()}
    model = peer[0]["model"]
    print(f"model {model} (lintel: {lintel[0]['model']}), {peer[0]['frames']} frames, {rounds} interleaved rounds, "
          f"threads {peer[0]['threads'] or 'ORT default'}")
    if lintel[0]["frames"] != peer[0]["frames"]:
        print(f"lintel analysed {lintel[0]['frames']} of the {peer[0]['frames']} frames (--fps); its frames/s below are "
              "the clip's frames over its time")
    print("load average (1 min) before each round: " + ", ".join(loads) + f" on {os.cpu_count()} CPUs")
    print(f"{'':34} {'median fps':>10} {'range':>15}   per round")
    labels = {"limit": "limit (ORT session.run alone)", "peer": "Python peer (cv2+ORT+supervision)",
              "lintel": "lintel count", "limit-cut": "limit of lintel's model"}
    for k in fps:
        print(f"{labels[k]:34} {med[k]:10.1f} {min(fps[k]):7.1f}-{max(fps[k]):<7.1f}   "
              + ", ".join(f"{x:.1f}" for x in fps[k]))
    pairs = (("lintel", "peer"), ("lintel", "limit"), ("peer", "limit"))
    if limit_cut:
        pairs += (("lintel", "limit-cut"), ("limit-cut", "limit"))
    for a, b in pairs:
        per_round = [x / y for x, y in zip(fps[a], fps[b])]
        print(f"ratio {a}/{b}: {med[a] / med[b]:.2f} of medians; per round "
              + ", ".join(f"{x:.2f}" for x in per_round) + f" (median {statistics.median(per_round):.2f})")
    split = {k: statistics.median(r["ms_per_frame"][k] for r in peer[:rounds]) for k in peer[0]["ms_per_frame"]}
    shares = {k: statistics.median(r["share"][k] for r in peer[:rounds]) for k in peer[0]["share"]}
    print("peer ms/frame (median): " + ", ".join(f"{k} {v:.2f} ({100 * shares[k]:.0f}%)" for k, v in split.items()))
    outside = [1 - r["share"]["inference"] for r in peer[:rounds]]
    print(f"peer time outside session.run: {100 * statistics.median(outside):.0f}%")

    truth = peer[0].get("ground_truth", {})
    counted = {z["name"]: (z["entries"], z["exits"]) for z in lintel[0]["zones"]}
    print(f"\n{'zone':12} {'ground truth':>13} {'lintel':>9} {'peer':>9}   abs error lintel / peer")
    total = {"gt": 0, "lintel": 0, "peer": 0}
    for name, gt in truth.items():
        ours = counted.get(name)
        theirs = peer[0]["zones"].get(name)
        cell = lambda c: f"{c[0]:>4}/{c[1]:<4}" if c else f"{'-':>9}"
        row = f"{name:12} {gt['in']:>6}/{gt['out']:<6} {cell(ours)} {cell((theirs['in'], theirs['out']) if theirs else None)}"
        if ours and theirs:
            e_ours = abs(ours[0] - gt["in"]) + abs(ours[1] - gt["out"])
            e_theirs = abs(theirs["in"] - gt["in"]) + abs(theirs["out"] - gt["out"])
            total["gt"] += gt["in"] + gt["out"]
            total["lintel"] += e_ours
            total["peer"] += e_theirs
            row += f"   {e_ours:>3} / {e_theirs}"
        print(row)
    if total["gt"]:
        print(f"lines both count: absolute error lintel {total['lintel']}, peer {total['peer']} of {total['gt']} "
              f"crossings ({100 * total['lintel'] / total['gt']:.1f}% vs {100 * total['peer'] / total['gt']:.1f}%)")
    stable = all(json.dumps(r["zones"]) == json.dumps(peer[0]["zones"]) for r in peer[:rounds]) and all(
        json.dumps(r["zones"]) == json.dumps(lintel[0]["zones"]) for r in lintel[:rounds])
    print(f"tracks: lintel {lintel[0]['tracks']}, peer {peer[0]['tracks']} (19 people in the ground truth); "
          f"counts {'identical in every round' if stable else 'DIFFER between rounds (first round shown)'}")


if __name__ == "__main__":
    main()
