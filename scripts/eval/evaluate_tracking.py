"""Tracking and counting accuracy of `lintel count` on PETS09-S2L1, with and without re-ID.

Runs the built `lintel` on the clip once per configuration, scores its `--tracks-out` against the
MOTChallenge ground truth with py-motmetrics (the standard scorer: IDF1, ID switches, MOTA, ...),
and compares its counts on every zone of fixtures/pets.toml with the counts derived from the
ground-truth trajectories (the rule of fixtures/README.md). Run through scripts/evaluate-tracking,
which makes the virtual environment.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import motmetrics as mm

from pets_truth import ground_truth_counts, load_zones

ROOT = Path(__file__).resolve().parents[2]
GT = ROOT / "fixtures/PETS09-S2L1-gt.txt"
SITE = ROOT / "fixtures/pets.toml"
VIDEO = ROOT / "fixtures/video/vtest.avi"
WIDTH, HEIGHT = 768, 576


def run_lintel(binary, extra, tracks):
    command = [str(binary), "count", "--site", str(SITE), "--camera", "walkway", "--json",
               "--tracks-out", str(tracks), *extra, str(VIDEO)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def score(tracks):
    gt = mm.io.loadtxt(str(GT), fmt="mot15-2D", min_confidence=1)
    ts = mm.io.loadtxt(str(tracks), fmt="mot15-2D")
    acc = mm.utils.compare_to_groundtruth(gt, ts, "iou", distth=0.5)
    names = ["idf1", "idp", "idr", "num_switches", "num_fragmentations", "mota", "precision", "recall",
             "num_unique_objects", "mostly_tracked"]
    summary = mm.metrics.create().compute(acc, metrics=names, name="lintel")
    return {k: float(summary[k].iloc[0]) for k in names}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lintel", default=ROOT / "target/release/lintel", type=Path)
    parser.add_argument("--model", help="detector of models.toml (default: the manifest's default)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--score", type=Path, metavar="TRACKS", help="only score this MOTChallenge CSV")
    args = parser.parse_args()
    if args.score:
        print(json.dumps(score(args.score)))
        return
    zones = load_zones(SITE, "walkway", WIDTH, HEIGHT)
    truth = {name: (c["in"], c["out"]) for name, c in ground_truth_counts(GT, zones).items()}
    base = ["--model", args.model] if args.model else []
    configs = {"motion only": base, "with re-ID": base + ["--reid"]}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in configs.items():
            tracks = Path(tmp) / "tracks.txt"
            run = run_lintel(args.lintel, extra, tracks)
            counts = {z["name"]: (z["entries"], z["exits"]) for z in run["zones"]}
            error = sum(abs(counts[n][0] - t[0]) + abs(counts[n][1] - t[1]) for n, t in truth.items())
            results[label] = {"metrics": score(tracks), "counts": counts, "count_error": error,
                              "tracks": run["tracks"], "embedded": run.get("embedded", 0),
                              "detections": run.get("detections", 0), "analysed_fps": run["analysed_fps"]}
    if args.json:
        print(json.dumps({"ground_truth": truth, "results": results}, indent=2))
        return
    crossings = sum(a + b for a, b in truth.values())
    print(f"{'':24}" + "".join(f"{label:>16}" for label in results))
    rows = [("IDF1", "idf1", "{:.3f}"), ("ID switches", "num_switches", "{:.0f}"),
            ("fragmentations", "num_fragmentations", "{:.0f}"), ("MOTA", "mota", "{:.3f}"),
            ("recall", "recall", "{:.3f}"), ("precision", "precision", "{:.3f}")]
    for title, key, fmt in rows:
        print(f"{title:24}" + "".join(f"{fmt.format(r['metrics'][key]):>16}" for r in results.values()))
    print(f"{'track ids (GT: 19)':24}" + "".join(f"{r['tracks']:>16}" for r in results.values()))
    print(f"{'crops embedded':24}" + "".join(f"{r['embedded']:>16}" for r in results.values()))
    print(f"{'frames/s':24}" + "".join(f"{r['analysed_fps']:>16.1f}" for r in results.values()))
    print(f"{'count error':24}" + "".join(f"{r['count_error']:>10}/{crossings:<5}" for r in results.values()))
    for name, (gi, go) in truth.items():
        cells = "".join(f"{'%d/%d' % r['counts'][name]:>16}" for r in results.values())
        print(f"  {name + ' (GT ' + str(gi) + '/' + str(go) + ')':22}{cells}")


if __name__ == "__main__":
    main()
