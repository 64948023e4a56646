#!/usr/bin/env python3
"""Measure Lintel's person detectors on real footage: precision, recall and time per frame.

Decodes the PETS 2009 S2.L1 clip (OpenCV's vtest.avi, 795 frames, 768x576), runs every detector of
models/models.toml (or the ones named) with ONNX Runtime, and matches the detections to the
MOTChallenge ground truth at IoU >= 0.5 (greedy, highest score first, one ground-truth box per
detection). Decoded frame index i (0-based) is ground-truth frame i + 1.

Frames are prepared the way the pipeline does for each manifest entry: RGB, stretched (SSD) to
input_width x input_height. Models run interleaved frame by frame in one process, because timings of
separate runs on these shared machines disagree by far more than the differences between models.

Ground-truth boxes flagged conf = 0 (174 of 4,650) are don't-care regions, as MOTChallenge scores
them: a detection on one is neither a hit nor a false alarm, and they are left out of the recall
(the numbers in shared/STACK.md match this convention). --keep-flagged counts them as people.

Needs numpy, opencv-python(-headless) and onnxruntime: the venv that scripts/install-models makes
has them (`.cache/venv-models/bin/python scripts/models/evaluate_detector.py`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tomllib
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from space_to_depth import in_blocks
from ssd_nms import iou, nms

ROOT = Path(__file__).resolve().parents[2]
VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
GT = ROOT.parent / "shared" / "data" / "PETS09-S2L1-gt.txt"
IOU = 0.5
# Ground-truth heights in pixels that split "small" (far from the camera) from the rest.
SIZE_BINS = ((0, 60), (60, 90), (90, 10_000))
# Lowest score a cut graph's NMS keeps (the full graphs keep every score; those below the thresholds
# scored here change nothing).
MIN_SCORE = 0.05


def load_ground_truth(path: Path) -> dict[int, list[tuple[np.ndarray, bool]]]:
    """frame (1-based) -> [(x1, y1, x2, y2), flagged] from MOT CSV."""
    boxes = defaultdict(list)
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        f = line.split(",")
        frame, x, y, w, h, conf = int(f[0]), float(f[2]), float(f[3]), float(f[4]), float(f[5]), float(f[6])
        boxes[frame].append((np.array([x, y, x + w, y + h]), conf == 0))
    return boxes


class Detector:
    """One manifest entry of format ssd-tf (the full TF graph) or ssd-boxes (cut before its NMS, which
    ssd_nms.py then does as the graph would), with ONNX Runtime's default session options."""

    def __init__(self, spec: dict, models_dir: Path, threads: int):
        if spec.get("format") not in ("ssd-tf", "ssd-boxes"):
            raise SystemExit(f"evaluate_detector: {spec['name']}: only formats ssd-tf and ssd-boxes are handled here")
        self.spec = spec
        self.name = spec["name"]
        path = models_dir / spec["file"]
        if not path.is_file():
            raise SystemExit(f"evaluate_detector: {path} is missing (run scripts/install-models)")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.size = (spec["input_width"], spec["input_height"])
        # Manifest order: boxes, scores, classes, num_detections.
        self.outputs = spec["outputs"]
        self.times: list[float] = []

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float, int]]:
        height, width = rgb.shape[:2]
        image = rgb if (width, height) == self.size else cv2.resize(rgb, self.size, interpolation=cv2.INTER_LINEAR)
        image = image[np.newaxis]
        if self.spec["input_layout"] == "space-to-depth":
            image = in_blocks(image)
        feed = {self.spec["input_name"]: image}
        started = time.perf_counter()
        if self.spec["format"] == "ssd-boxes":
            anchor_boxes, anchor_scores = self.session.run(self.outputs, feed)
            self.times.append(time.perf_counter() - started)
            boxes, scores = nms(anchor_boxes[0], anchor_scores[0][..., self.spec["person_class"]],
                                self.spec["nms_iou"], MIN_SCORE)
            classes = np.full(len(scores), self.spec["person_class"])
        else:
            boxes, scores, classes, num = self.session.run(self.outputs, feed)
            self.times.append(time.perf_counter() - started)
            n = int(num[0])
            boxes, scores, classes = boxes[0, :n], scores[0, :n], classes[0, :n]
        scale = np.array([height, width, height, width], dtype=np.float64)
        found = []
        for box, score, cls in zip(boxes, scores, classes):
            y1, x1, y2, x2 = box * scale
            found.append((np.array([x1, y1, x2, y2]), float(score), int(cls)))
        return found


class Tally:
    def __init__(self):
        self.tp = self.fp = 0
        self.gt = 0
        self.hit_by_bin = [0] * len(SIZE_BINS)
        self.gt_by_bin = [0] * len(SIZE_BINS)

    def add(self, detections, truth, ignore_flagged: bool) -> None:
        """Greedy matching, highest score first (detections arrive sorted by score from the graph)."""
        matched = [False] * len(truth)
        for box, _, _ in sorted(detections, key=lambda d: -d[1]):
            best, best_iou = -1, IOU
            for j, (gt_box, _) in enumerate(truth):
                if not matched[j]:
                    overlap = iou(box, gt_box)
                    if overlap >= best_iou:
                        best, best_iou = j, overlap
            if best < 0:
                self.fp += 1
                continue
            matched[best] = True
            if truth[best][1] and ignore_flagged:
                continue
            self.tp += 1
        for (gt_box, flagged), hit in zip(truth, matched):
            if flagged and ignore_flagged:
                continue
            self.gt += 1
            height = gt_box[3] - gt_box[1]
            for k, (low, high) in enumerate(SIZE_BINS):
                if low <= height < high:
                    self.gt_by_bin[k] += 1
                    self.hit_by_bin[k] += hit

    def summary(self) -> dict:
        return {
            "precision": self.tp / max(self.tp + self.fp, 1),
            "recall": self.tp / max(self.gt, 1),
            "tp": self.tp, "fp": self.fp, "gt": self.gt,
            "recall_by_height": {f"{lo}-{hi}px": h / max(g, 1) for (lo, hi), h, g in
                                 zip(SIZE_BINS, self.hit_by_bin, self.gt_by_bin)},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT / "models" / "models.toml")
    parser.add_argument("--model", action="append", help="manifest name (repeatable; default: every ssd-tf detector)")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--gt", type=Path, default=GT)
    parser.add_argument("--scores", default="0.3,0.5", help="score thresholds (comma-separated)")
    parser.add_argument("--frames", type=int, default=0, help="evaluate only the first N frames")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--keep-flagged", action="store_true", help="count conf=0 ground truth as people")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    manifest = tomllib.loads(args.manifest.read_text())
    specs = [m for m in manifest["model"] if m.get("role", "detector") == "detector"]
    if not args.model:
        # The cut copies (ssd-boxes, scripts/models/cut_detector_nms.py) find what their full graphs
        # find (the INT8 ones within a hair): name them to measure them.
        specs = [m for m in specs if m.get("format") == "ssd-tf"]
    if args.model:
        unknown = set(args.model) - {m["name"] for m in specs}
        if unknown:
            raise SystemExit(f"evaluate_detector: not in {args.manifest}: {sorted(unknown)}")
        specs = [m for m in specs if m["name"] in args.model]
    detectors = [Detector(spec, args.manifest.parent, args.threads) for spec in specs]
    thresholds = [float(s) for s in args.scores.split(",")]
    truth = load_ground_truth(args.gt)

    capture = cv2.VideoCapture(str(args.video))
    if not capture.isOpened():
        raise SystemExit(f"evaluate_detector: cannot open {args.video} (Debian package opencv-doc)")
    tallies = {(d.name, t): Tally() for d in detectors for t in thresholds}
    # Warm-up run per model, so that first-call allocations do not count as frame time.
    ok, first = capture.read()
    if not ok:
        raise SystemExit(f"evaluate_detector: {args.video}: no frames")
    for d in detectors:
        d.detect(cv2.cvtColor(first, cv2.COLOR_BGR2RGB))
        d.times.clear()
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    index = 0
    while not args.frames or index < args.frames:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        gt = truth.get(index + 1, [])
        # Alternate which model goes first, so neither always runs on a warmer cache.
        order = detectors if index % 2 == 0 else detectors[::-1]
        for d in order:
            found = [f for f in d.detect(rgb) if f[2] == d.spec.get("person_class", 1)]
            for t in thresholds:
                tallies[(d.name, t)].add([f for f in found if f[1] >= t], gt, not args.keep_flagged)
        index += 1
    if index == 0:
        raise SystemExit("evaluate_detector: decoded no frame")

    results = {"frames": index, "video": str(args.video), "keep_flagged": args.keep_flagged,
               "onnxruntime": ort.__version__, "models": {}}
    print(f"{index} frames, IoU >= {IOU}, onnxruntime {ort.__version__}"
          f"{', conf=0 ground truth counted' if args.keep_flagged else ', conf=0 ground truth ignored'}")
    print(f"{'model':32} {'ms/frame':>9} {'median':>7}  " +
          "  ".join(f"P/R@{t:<4}" for t in thresholds) + "   recall by person height @" + str(thresholds[0]))
    for d in detectors:
        ms = [t * 1000 for t in d.times]
        entry = {"ms_mean": statistics.fmean(ms), "ms_median": statistics.median(ms),
                 "input": list(d.size), "scores": {}}
        cells = []
        for t in thresholds:
            s = tallies[(d.name, t)].summary()
            entry["scores"][str(t)] = s
            cells.append(f"{s['precision']:.2f}/{s['recall']:.2f}")
        bins = entry["scores"][str(thresholds[0])]["recall_by_height"]
        print(f"{d.name:32} {entry['ms_mean']:9.1f} {entry['ms_median']:7.1f}  " + "  ".join(f"{c:>9}" for c in cells)
              + "   " + " ".join(f"{k}:{v:.2f}" for k, v in bins.items()))
        results["models"][d.name] = entry
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
