"""A door camera's day in two minutes: the PETS walkway empty most of the time, busy now and then.

Writes `--out` (MPEG-4, 768x576, 10 frames/s): cycles of `--idle` seconds of the empty walkway
(the per-pixel median of the clip, which no person stands still long enough to be part of, with
fresh sensor noise every frame, sigma `--noise` grey levels, so it is never a still picture) then
`--busy` seconds of the clip itself, each cycle a further stretch of it. Used by
`benches/camera-scaling --clip` for cameras at realistic door traffic.

    .cache/venv-bench/bin/python benches/python/idle_clip.py --out .cache/idle-door.mp4
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=ROOT / "fixtures/video/vtest.avi")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--idle", type=float, default=45.0, help="seconds of empty walkway per cycle")
    parser.add_argument("--busy", type=float, default=15.0, help="seconds of the clip per cycle")
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--noise", type=float, default=2.0, help="sensor noise, grey levels (sigma)")
    args = parser.parse_args()

    capture = cv2.VideoCapture(str(args.video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    if not frames:
        sys.exit(f"idle_clip: cannot read {args.video} (scripts/setup installs opencv-doc, which ships it)")
    fps = 10
    height, width = frames[0].shape[:2]
    background = np.median(np.stack(frames[:: max(1, len(frames) // 120)]), axis=0).astype(np.float32)
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        sys.exit(f"idle_clip: cannot write {args.out}")
    rng = np.random.default_rng(7)
    busy = int(args.busy * fps)
    for cycle in range(args.cycles):
        for _ in range(int(args.idle * fps)):
            noisy = background + rng.normal(0.0, args.noise, background.shape)
            writer.write(np.clip(noisy, 0, 255).astype(np.uint8))
        start = (cycle * busy) % max(1, len(frames) - busy)
        for frame in frames[start : start + busy]:
            writer.write(frame)
    writer.release()
    seconds = args.cycles * (args.idle + args.busy)
    print(f"idle_clip: {args.out}: {seconds:.0f} s, {args.idle:.0f} s idle then {args.busy:.0f} s busy, {args.cycles} times")


if __name__ == "__main__":
    main()
