#!/usr/bin/env python3
"""The Python peer of `lintel count`: the same job with the stack people reach for.

OpenCV decodes the PETS 2009 S2.L1 clip, ONNX Runtime runs the same detector from models/models.toml,
supervision's ByteTrack tracks and one supervision LineZone per counting line of the site file
counts. Prints one JSON object: frames, elapsed, frames/s, where the time went, the counts per line
and (with --ground-truth) the counts derived from the ground-truth trajectories.

  --model-only   "the limit": decode and pre-process every frame first (not timed), then time only
                 ONNX Runtime's session.run on them. Nothing else can make the detector go faster.

Choices made to do the same job as Lintel (see benches/README.md):
- Detections of the person class with score >= 0.1 go to the tracker, Lintel's threshold
  (pipeline/src/infer/detector.rs: the tracker's low stage starts there; supervision's does too).
- ByteTrack with supervision's defaults, frame_rate = the clip's frame rate (CAP_PROP_FPS, 10): a lost
  track is kept 1 s. --tracker lintel sets what supervision lets one set like Lintel's tracker and
  counter (high-score stage from 0.5, lost tracks kept 3 s, birth after 3 frames, a crossing confirmed
  by 2 frames on the other side).
- LineZone counts on the bottom centre of the box (the feet), the point Lintel counts on, instead of
  its default of all four corners (--anchors corners for that default).
- Side convention: supervision's "in" is a move onto the left of start->end as seen on the screen
  (y down); Lintel's entry is a move onto `entry_side` of A->B. So entry_side = "right" becomes
  LineZone(start=B, end=A) and entry_side = "left" LineZone(start=A, end=B): in = Lintel's entries,
  out = its exits.
- Frames are resized to the model's input (cv2.INTER_LINEAR) before the BGR->RGB swap, the cheaper
  order; the 768x576 model gets the decoded frame as it is, swapped.
- Like Lintel's `count`, the clock starts when the video is opened, after the model is loaded, with
  no warm-up run. --model-only warms up with one run first (the limit is the best case).

Needs numpy, opencv-python-headless, onnxruntime and supervision==0.30.9 (0.31 removed
sv.ByteTrack): benches/python-peer installs them into .cache/venv-bench and runs this.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/eval"))
from pets_truth import ground_truth_counts, load_zones  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts/models"))
from space_to_depth import in_blocks  # noqa: E402
# Same as pipeline/src/infer/detector.rs DEFAULT_MIN_SCORE.
MIN_SCORE = 0.1


def fail(message: str) -> None:
    raise SystemExit(f"peer.py: {message}")


def load_spec(manifest_path: Path, name: str | None, model_only: bool) -> dict:
    if not manifest_path.is_file():
        fail(f"{manifest_path}: no such manifest")
    manifest = tomllib.loads(manifest_path.read_text())
    name = name or manifest.get("default")
    for spec in manifest.get("model", []):
        if spec["name"] == name:
            # A detector cut before its NMS (ssd-boxes) is only timed (--model-only): its outputs
            # are not read, so which it returns does not matter.
            if spec.get("format") != "ssd-tf" and not (model_only and spec.get("format") == "ssd-boxes"):
                fail(f"{manifest_path}: model {name}: only format ssd-tf is handled here (and ssd-boxes with --model-only)")
            return spec
    fail(f"{manifest_path}: no model named {name!r}")


# --- The peer ---

class Model:
    def __init__(self, spec: dict, models_dir: Path, threads: int):
        path = models_dir / spec["file"]
        if not path.is_file():
            fail(f"{path} is missing (run scripts/install-models)")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = spec["input_name"]
        self.outputs = spec["outputs"]  # boxes, scores, classes, num_detections
        self.size = (spec["input_width"], spec["input_height"])
        self.person = spec.get("person_class", 1)
        self.blocks = spec["input_layout"] == "space-to-depth"

    def prepare(self, bgr: np.ndarray) -> np.ndarray:
        height, width = bgr.shape[:2]
        if (width, height) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[np.newaxis]
        return in_blocks(rgb) if self.blocks else rgb

    def run(self, tensor: np.ndarray):
        return self.session.run(self.outputs, {self.input_name: tensor})


def read_frames(video: Path):
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        fail(f"{video}: cannot open (run scripts/setup)")
    return capture


def run_peer(args, spec: dict, model: Model) -> dict:
    import supervision as sv

    started = time.perf_counter()
    capture = read_frames(args.video)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    zones = [z for z in load_zones(args.site, args.camera, width, height) if z["kind"] == "line"]
    if args.anchors == "feet":
        anchors = (sv.Position.BOTTOM_CENTER,)
    else:
        anchors = (sv.Position.TOP_LEFT, sv.Position.TOP_RIGHT, sv.Position.BOTTOM_LEFT, sv.Position.BOTTOM_RIGHT)
    counters = {}
    for z in zones:
        a, b = (sv.Point(float(x), float(y)) for x, y in z["points"])
        # supervision counts "in" onto the left of start->end (screen): flip for entry_side = right.
        start, end = (b, a) if z["entry_side"] == "right" else (a, b)
        # Lintel counts a crossing once the track is seen clearly on the other side for 2 frames.
        confirm = 2 if args.tracker == "lintel" else 1
        counters[z["name"]] = sv.LineZone(start=start, end=end, triggering_anchors=anchors,
                                          minimum_crossing_threshold=confirm)
    if args.tracker == "lintel":
        # Lintel's ByteTrack settings where supervision has the same knob (pipeline/src/track/bytetrack.rs,
        # replay.rs): high-score stage from 0.5 (new tracks from 0.6, as supervision adds 0.1), a lost
        # track kept 3 s (supervision keeps frame_rate / 30 * lost_track_buffer frames), birth after 3 frames.
        tracker = sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=90, frame_rate=fps,
                               minimum_consecutive_frames=3)
    else:
        tracker = sv.ByteTrack(frame_rate=fps)
    scale = np.array([height, width, height, width], dtype=np.float32)

    spent = {"decode": 0.0, "preprocess": 0.0, "inference": 0.0, "postprocess_track_count": 0.0}
    frames = 0
    tracked = set()
    while True:
        t0 = time.perf_counter()
        ok, bgr = capture.read()
        t1 = time.perf_counter()
        spent["decode"] += t1 - t0
        if not ok:
            break
        tensor = model.prepare(bgr)
        t2 = time.perf_counter()
        boxes, scores, classes, num = model.run(tensor)
        t3 = time.perf_counter()
        n = int(num[0])
        keep = (classes[0, :n].round().astype(np.int64) == model.person) & (scores[0, :n] >= MIN_SCORE)
        yx = boxes[0, :n][keep] * scale  # ymin, xmin, ymax, xmax in pixels
        detections = sv.Detections(
            xyxy=yx[:, [1, 0, 3, 2]].astype(np.float32),
            confidence=scores[0, :n][keep].astype(np.float32),
            class_id=np.zeros(int(keep.sum()), dtype=int),
        )
        detections = tracker.update_with_detections(detections)
        for counter in counters.values():
            counter.trigger(detections)
        if detections.tracker_id is not None:
            tracked.update(int(t) for t in detections.tracker_id)
        t4 = time.perf_counter()
        spent["preprocess"] += t2 - t1
        spent["inference"] += t3 - t2
        spent["postprocess_track_count"] += t4 - t3
        frames += 1
    elapsed = time.perf_counter() - started
    capture.release()
    if frames == 0:
        fail(f"{args.video}: decoded no frame")
    result = {
        "mode": "peer", "model": spec["name"], "frames": frames, "width": width, "height": height,
        "source_fps": fps, "elapsed_s": elapsed, "fps": frames / elapsed,
        "ms_per_frame": {k: 1000 * v / frames for k, v in spent.items()},
        "share": {k: v / elapsed for k, v in spent.items()},
        "tracks": len(tracked), "anchors": args.anchors, "tracker": args.tracker,
        "zones": {name: {"in": c.in_count, "out": c.out_count} for name, c in counters.items()},
    }
    if args.ground_truth:
        all_zones = load_zones(args.site, args.camera, width, height)
        result["ground_truth"] = ground_truth_counts(args.ground_truth, all_zones)
    return result


def run_model_only(args, spec: dict, model: Model) -> dict:
    capture = read_frames(args.video)
    tensors = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        tensors.append(np.ascontiguousarray(model.prepare(bgr)))
    capture.release()
    if not tensors:
        fail(f"{args.video}: decoded no frame")
    model.run(tensors[0])
    started = time.perf_counter()
    for tensor in tensors:
        model.run(tensor)
    elapsed = time.perf_counter() - started
    return {"mode": "model-only", "model": spec["name"], "frames": len(tensors), "elapsed_s": elapsed,
            "fps": len(tensors) / elapsed, "ms_per_frame": {"inference": 1000 * elapsed / len(tensors)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ssdlite-pedestrian-300", help="manifest name")
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "models.toml", help="model manifest")
    parser.add_argument("--video", type=Path, default=ROOT / "fixtures" / "video" / "vtest.avi")
    parser.add_argument("--site", type=Path, default=ROOT / "fixtures" / "pets.toml")
    parser.add_argument("--camera", default="walkway")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--anchors", choices=["feet", "corners"], default="feet",
                        help="LineZone triggering anchors: bottom centre (Lintel's point) or supervision's default")
    parser.add_argument("--tracker", choices=["defaults", "lintel"], default="defaults",
                        help="ByteTrack and LineZone with supervision's defaults, or set like Lintel's where they can be")
    parser.add_argument("--ground-truth", type=Path, nargs="?", const=ROOT / "fixtures" / "PETS09-S2L1-gt.txt",
                        help="also print the ground-truth counts per zone (default file: fixtures/)")
    parser.add_argument("--model-only", action="store_true", help="time only session.run on pre-decoded frames")
    args = parser.parse_args()

    spec = load_spec(args.models, args.model, args.model_only)
    model = Model(spec, args.models.parent, args.threads)
    result = run_model_only(args, spec, model) if args.model_only else run_peer(args, spec, model)
    result["threads"] = args.threads
    result["versions"] = {"onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__}
    if not args.model_only:
        import supervision as sv

        result["versions"]["supervision"] = sv.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
