#!/usr/bin/env python3
"""Degraded copies of the PETS09-S2L1 clip, with the ground truth mapped through the same transform,
and the count error of `lintel count` on each (benches/degraded runs this).

Each copy is made by GStreamer (gst-launch-1.0) the way a real camera alters a picture: re-encoded to
H.264, mirrored, zoomed on a door-sized area, 5 frames/s, low resolution at a low bit rate, dusk and
night (darker, flatter, JPEG artefacts), an infrared night mode (grey), sensor noise. The ground-truth
boxes of fixtures/PETS09-S2L1-gt.txt go through the same geometry (mirror, crop and zoom, scale, the
frames a lower rate keeps), and the zones of fixtures/pets.toml through the crop, so the error of each
copy is measured against what is in its own picture. Crossings are derived from the mapped trajectories
by scripts/eval/pets_truth.py, the rule of pipeline/tests/count_video.rs.

  degrade.py make [--only NAMES]           make the copies under .cache/degraded (kept until deleted)
  degrade.py frames [--only NAMES]         dump frames 150 and 400 of each copy as PNG, to look at
  degrade.py count [--only NAMES] --variant LABEL='lintel count args' [--variant ...] [--rounds N]
                                           run `lintel count` on each copy per variant, interleaved,
                                           and print the table (line error; door polygon separately)
  degrade.py count --encodings N ...       N encodings of each copy (keyframe interval 30, 31, ...):
                                           the mean error and its range, as one encoding is one sample

Needs numpy (and opencv-python-headless for `frames`): benches/degraded runs it in .cache/venv-bench.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/eval"))
from pets_truth import ground_truth_counts, load_zones  # noqa: E402

VIDEO = ROOT / "fixtures/video/vtest.avi"
SITE = ROOT / "fixtures/pets.toml"
TRUTH = ROOT / "fixtures/PETS09-S2L1-gt.txt"
OUT = ROOT / ".cache/degraded"
W, H, FRAMES = 768, 576, 795
# A door-sized area of the walkway: 384x288 px around the middle, zoomed back to 768x576.
CROP = (192, 144, 384, 288)  # left, top, width, height


def fail(message: str) -> None:
    raise SystemExit(f"degrade.py: {message}")


@dataclass
class Copy:
    name: str
    what: str
    # gst-launch elements between the decoded clip and the encoder.
    chain: str
    size: tuple[int, int] = (W, H)
    kbps: int = 3000
    # Keep every `step`-th frame (a lower frame rate).
    step: int = 1
    mirror: bool = False
    crop: tuple[int, int, int, int] | None = None
    # Snow blended over the picture at this opacity (sensor noise); 0: none.
    noise: float = 0.0
    extra: dict = field(default_factory=dict)
    # Another encoding of the same frames (0: the copy itself): the keyframe interval is 30 + this,
    # as another camera of the same kind might be set. One encoding is one sample: two of the same
    # frames have counted 7 crossings apart.
    encoding: int = 0


def jpeg(quality: int) -> str:
    return f"jpegenc quality={quality} ! jpegdec ! videoconvert"


# videobalance works on Y'CbCr: contrast scales luma around 0 (and chroma), brightness adds to it.
COPIES = [
    Copy("as-is", "re-encoded to H.264", "identity"),
    Copy("mirrored", "mirrored left to right", "identity", mirror=True),
    Copy("door-zoom", "a door-sized 384x288 area zoomed to 768x576",
         f"videocrop left={CROP[0]} top={CROP[1]} right={W - CROP[0] - CROP[2]} bottom={H - CROP[1] - CROP[3]} ! "
         f"videoscale ! video/x-raw,width={W},height={H}", crop=CROP),
    Copy("fps5", "a 5 frames/s camera", "videorate ! video/x-raw,framerate=5/1", step=2),
    Copy("low-384", "384x288 at 150 kbit/s", "videoscale ! video/x-raw,width=384,height=288", size=(384, 288),
         kbps=150),
    Copy("cif-352", "352x240 at 150 kbit/s", "videoscale ! video/x-raw,width=352,height=240", size=(352, 240),
         kbps=150),
    Copy("dusk", "darker, flatter, JPEG quality 30",
         f"videobalance brightness=-0.15 contrast=0.5 saturation=0.6 ! {jpeg(30)}"),
    Copy("night", "much darker, very flat, JPEG quality 15",
         f"videobalance brightness=-0.03 contrast=0.2 saturation=0.3 ! {jpeg(15)}"),
    Copy("night-dark", "darker night (0-29 levels), JPEG quality 10",
         f"videobalance brightness=-0.06 contrast=0.12 saturation=0.3 ! {jpeg(10)}"),
    # The darker night's levels, but legal: the night copies above are darkened in Y'CbCr, which
    # pushes much of their luma below black (16), where a decoder that follows the stream's range
    # (GStreamer, so Lintel) clips it and OpenCV does not. This one is darkened in RGB, as a
    # sensor's signal is, before the encoder: both decoders see the same levels (about 1-22).
    Copy("night-dark-rgb", "darker night darkened in RGB (legal levels, about 1-22), JPEG quality 10",
         f"videoconvert ! video/x-raw,format=RGB ! videobalance contrast=0.11 saturation=0.3 ! videoconvert ! {jpeg(10)}"),
    Copy("night-colour", "a colour camera at night with no infrared: dark, colour kept, JPEG quality 10",
         f"videobalance brightness=-0.05 contrast=0.25 saturation=0.9 ! {jpeg(10)}"),
    Copy("night-noisy", "night with sensor noise, JPEG quality 20",
         "videobalance brightness=-0.03 contrast=0.22 saturation=0.3", noise=0.08, extra={"jpeg": 20}),
    Copy("infrared", "a camera's grey infrared night mode: flat, noisy",
         "videobalance brightness=0.05 contrast=0.45 saturation=0", noise=0.12, extra={"jpeg": 40}),
    Copy("noisy", "daylight with heavy sensor noise", "identity", noise=0.25),
]


def mirrored(copy: Copy) -> Copy:
    """The copy as a camera on the other side of the street gives it: the same, mirrored first."""
    return replace(copy, name=f"{copy.name}-mirrored", what=f"{copy.what}; mirrored", mirror=True)


def mirror_of(copy: Copy) -> Copy:
    """The mirror image of a copy; that of "as-is" is the "mirrored" copy itself."""
    return next(c for c in COPIES if c.name == "mirrored") if copy.name == "as-is" else mirrored(copy)


def by_name(only: str | None, with_mirrored: bool) -> list[Copy]:
    known = COPIES + [mirror_of(c) for c in COPIES if not c.mirror and c.name != "as-is"]
    chosen = COPIES
    if only:
        names = only.split(",")
        unknown = [n for n in names if n not in {c.name for c in known}]
        if unknown:
            fail(f"no copy named {', '.join(unknown)} (copies: {', '.join(c.name for c in known)})")
        chosen = [c for c in known if c.name in names]
    if with_mirrored:
        extra = [mirror_of(c) for c in chosen if not c.mirror]
        chosen = chosen + [m for m in extra if m.name not in {c.name for c in chosen}]
    return chosen


def site_file() -> Path:
    return Path(os.environ.get("DEGRADED_SITE", SITE))


def site_of(copy: Copy) -> Path:
    """The copy's site file; another base site than fixtures/pets.toml gets its own name."""
    base = site_file()
    suffix = "" if base.resolve() == SITE.resolve() else f"-{base.stem}"
    return OUT / f"{copy.name}{suffix}.toml"


def video_of(copy: Copy) -> Path:
    return OUT / (f"{copy.name}.mp4" if not copy.encoding else f"{copy.name}-e{copy.encoding}.mp4")


def encodings_of(copy: Copy, n: int) -> list[Copy]:
    return [replace(copy, encoding=k) for k in range(n)]


def gst_pipeline(copy: Copy, out: Path) -> str:
    w, h = copy.size
    enc = (f"videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=veryfast bitrate={copy.kbps} "
           f"key-int-max={30 + copy.encoding} ! mp4mux ! filesink location={out}")
    # A mirror comes first, so the crop and the zones of a mirrored copy are taken from the
    # mirrored picture (map_box and write_site apply it first too).
    flip = "videoflip video-direction=horiz ! " if copy.mirror else ""
    src = f"filesrc location={VIDEO} ! decodebin ! videoconvert ! {flip}{copy.chain}"
    if not copy.noise:
        return f"{src} ! {enc}"
    after = f" ! {jpeg(copy.extra['jpeg'])}" if "jpeg" in copy.extra else ""
    # Snow blended at `noise` opacity: per-pixel random grey, as a sensor's noise at high gain.
    return (f"compositor name=mix sink_1::alpha={copy.noise} ! video/x-raw,width={w},height={h}{after} ! {enc} "
            f"{src} ! videoconvert ! mix.sink_0 "
            f"videotestsrc pattern=snow num-buffers={FRAMES} ! video/x-raw,width={w},height={h},framerate=10/1 ! "
            "mix.sink_1")


def make(copies: list[Copy], encodings: int = 1) -> None:
    if not VIDEO.exists():
        fail(f"{VIDEO} is missing: run scripts/setup")
    OUT.mkdir(parents=True, exist_ok=True)
    for copy in (e for c in copies for e in encodings_of(c, encodings)):
        # The ground truth and zones are cheap: always written afresh from the code below.
        write_truth(copy)
        write_site(copy)
        out = video_of(copy)
        if out.exists():
            continue
        part = out.with_suffix(".part.mp4")
        started = time.perf_counter()
        pipeline = gst_pipeline(copy, part)
        done = subprocess.run(["gst-launch-1.0", "-q", *shlex.split(pipeline)], capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"{copy.name}: gst-launch-1.0 failed:\n{pipeline}\n{done.stderr or done.stdout}")
        part.rename(out)
        print(f"{copy.name}{f' encoding {copy.encoding}' if copy.encoding else ''}: {out.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


# --- The ground truth through the same transform ---

def map_box(copy: Copy, left: float, top: float, width: float, height: float):
    if copy.mirror:
        left = W - left - width
    if copy.crop:
        cx, cy, cw, ch = copy.crop
        sx, sy = W / cw, H / ch
        left, top, width, height = (left - cx) * sx, (top - cy) * sy, width * sx, height * sy
    sx, sy = copy.size[0] / W, copy.size[1] / H
    return left * sx, top * sy, width * sx, height * sy


def write_truth(copy: Copy) -> Path:
    """MOTChallenge rows mapped into the copy: boxes through its geometry, frames renumbered."""
    out = OUT / f"{copy.name}-gt.txt"
    rows = []
    for line in TRUTH.read_text().splitlines():
        if not line.strip():
            continue
        f = line.split(",")
        frame = int(f[0])
        if (frame - 1) % copy.step:
            continue
        box = map_box(copy, *(float(v) for v in f[2:6]))
        rows.append(",".join([str((frame - 1) // copy.step + 1), f[1], *(f"{v:.3f}" for v in box), *f[6:]]))
    out.write_text("\n".join(rows) + "\n")
    return out


def clip_segment(a, b):
    """The part of segment a-b inside the unit square (Liang-Barsky), or None."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0), (dx, 1 - x0), (-dy, y0), (dy, 1 - y0)):
        if p == 0:
            if q < 0:
                return None
        else:
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
    if t0 >= t1:
        return None
    return [[x0 + t0 * dx, y0 + t0 * dy], [x0 + t1 * dx, y0 + t1 * dy]]


def write_site(copy: Copy) -> Path:
    """The site file for the copy: fixtures/pets.toml, with its zones drawn where they were on the
    walkway (mirrored, or moved through the crop), as a technician would draw them on that camera."""
    out = site_of(copy)
    text = site_file().read_text()
    if copy.crop or copy.mirror:
        cx, cy, cw, ch = copy.crop or (0, 0, W, H)
        site = tomllib.loads(text)

        def to_copy(p):
            x = 1.0 - p[0] if copy.mirror else p[0]
            return [(x * W - cx) / cw, (p[1] * H - cy) / ch]
        head = text.split("[[zone]]")[0]
        zones = []
        for z in site["zone"]:
            points = [to_copy(p) for p in z["points"]]
            if z["kind"] == "line":
                points = clip_segment(*points)
                if points is None:
                    continue
            else:
                points = [[min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)] for x, y in points]
            fields = [f'camera = "{z["camera"]}"', f'name = "{z["name"]}"']
            if "aggregate" in z:
                fields.append(f'aggregate = {str(z["aggregate"]).lower()}')
            fields.append(f'kind = "{z["kind"]}"')
            fields.append("points = [" + ", ".join(f"[{x:.6f}, {y:.6f}]" for x, y in points) + "]")
            if "entry_side" in z:
                # A mirror turns right-hand sides into left-hand ones.
                side = {"left": "right", "right": "left"}[z["entry_side"]] if copy.mirror else z["entry_side"]
                fields.append(f'entry_side = "{side}"')
            zones.append("[[zone]]\n" + "\n".join(fields) + "\n")
        text = head + "\n".join(zones)
    out.write_text(text)
    return out


def truth_counts(copy: Copy) -> dict:
    zones = load_zones(site_of(copy), "walkway", *copy.size)
    return ground_truth_counts(OUT / f"{copy.name}-gt.txt", zones), {z["name"]: z["kind"] for z in zones}


# --- Looking at them ---

def frames(copies: list[Copy], indices=(150, 400)) -> None:
    import cv2

    for copy in copies:
        capture = cv2.VideoCapture(str(video_of(copy)))
        for i in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, i // copy.step)
            ok, bgr = capture.read()
            if ok:
                out = OUT / f"{copy.name}-{i}.png"
                cv2.imwrite(str(out), bgr)
                y = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                print(f"{out.relative_to(ROOT)}: luma mean {y.mean():.0f}, std {y.std():.0f}")


# --- Counting ---

def count(copies: list[Copy], variants: list[tuple[str, str]], rounds: int, lintel: str, keep: Path | None,
          encodings: int = 1) -> None:
    # (copy, variant, encoding) -> one result per round
    results: dict[tuple[str, str, int], list[dict]] = {}
    for r in range(rounds):
        for copy in (e for c in copies for e in encodings_of(c, encodings)):
            # Alternate the order of the variants, so neither always meets a warm cache.
            order = variants if r % 2 == 0 else variants[::-1]
            for label, args in order:
                command = [lintel, "count", "--site", str(site_of(copy)), "--camera", "walkway", "--json",
                           *shlex.split(args), str(video_of(copy))]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    fail(f"{' '.join(command)} failed:\n{done.stderr}")
                result = json.loads(done.stdout)
                results.setdefault((copy.name, label, copy.encoding), []).append(result)
                encoding = f"-e{copy.encoding}" if copy.encoding else ""
                if keep:
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / f"{copy.name}{encoding}-{label}-{r + 1}.json").write_text(done.stdout)
                print(f"{copy.name}{encoding} {label} round {r + 1}: {result['analysed_fps']:.1f} frames/s",
                      file=sys.stderr)
    print_table(copies, variants, results, encodings)


def errors(result: dict, truth: dict, kinds: dict) -> tuple[int, int, int, int]:
    """Absolute error and ground-truth crossings on the lines, then on the door polygon."""
    line_err = line_n = door_err = door_n = 0
    for z in result["zones"]:
        gt = truth.get(z["name"])
        if gt is None:
            continue
        e = abs(z["entries"] - gt["in"]) + abs(z["exits"] - gt["out"])
        if kinds[z["name"]] == "line":
            line_err, line_n = line_err + e, line_n + gt["in"] + gt["out"]
        else:
            door_err, door_n = door_err + e, door_n + gt["in"] + gt["out"]
    return line_err, line_n, door_err, door_n


def print_table(copies, variants, results, encodings: int = 1) -> None:
    labels = [label for label, _ in variants]
    print("\nline error = |entries - truth| + |exits - truth| summed over the lines, of the crossings in the "
          "mapped ground truth; door = the polygon; frames/s = the median over rounds"
          + (f"; with {encodings} encodings of each copy, the mean (lowest-highest) over them" if encodings > 1 else ""))
    print("| copy | what | " + " | ".join(f"{label}: lines | door | frames/s" for label in labels) + " |")
    print("| --- | --- | " + " | ".join("---: | ---: | ---:" for _ in labels) + " |")
    summary = {label: [] for label in labels}
    for copy in copies:
        truth, kinds = truth_counts(copy)
        cells = []
        for label in labels:
            per_encoding = [results[(copy.name, label, k)] for k in range(encodings)]
            counted = [errors(runs[0], truth, kinds) for runs in per_encoding]
            ln, dn = counted[0][1], counted[0][3]
            fps = statistics.median(r["analysed_fps"] for runs in per_encoding for r in runs)
            stable = all(r["zones"] == runs[0]["zones"] for runs in per_encoding for r in runs)
            mark = "" if stable else " *"
            if encodings == 1:
                le, de = counted[0][0], counted[0][2]
                cells.append(f"{le}/{ln} ({100 * le / max(ln, 1):.1f}%){mark} | {de}/{dn} | {fps:.1f}")
            else:
                lines, doors = [c[0] for c in counted], [c[2] for c in counted]
                le, de = statistics.mean(lines), statistics.mean(doors)
                cells.append(f"{le:.1f} ({min(lines)}-{max(lines)})/{ln} ({100 * le / max(ln, 1):.1f}%){mark} | "
                             f"{de:.1f} ({min(doors)}-{max(doors)})/{dn} | {fps:.1f}")
            summary[label].append(100 * le / max(ln, 1))
        print(f"| {copy.name} | {copy.what} | " + " | ".join(cells) + " |")
    for label in labels:
        models = sorted({r["model"] for (_, l, _), runs in results.items() if l == label for r in runs})
        stretched = sum(runs[0].get("low_light", 0) for (_, l, k), runs in results.items() if l == label and k == 0)
        print(f"{label}: model {', '.join(models)}; frames seen through the low-light curve: {stretched}")
    # What a variant changes against the first one, crossing by crossing (e.g. a gate that must
    # not lose anyone).
    for label in labels[1:]:
        moved = []
        for copy in copies:
            first, other = results[(copy.name, labels[0], 0)][0], results[(copy.name, label, 0)][0]
            by_zone = {z["name"]: z for z in first["zones"]}
            d = sum(abs(z["entries"] - by_zone[z["name"]]["entries"]) + abs(z["exits"] - by_zone[z["name"]]["exits"])
                    for z in other["zones"] if z["name"] in by_zone)
            moved.append(f"{copy.name} {d} (skipped {other.get('skipped', 0)} of {other.get('frames', '?')})")
        print(f"{label} against {labels[0]}, crossings that differ: {', '.join(moved)}")
    for label in labels:
        worst = max(summary[label])
        print(f"{label}: mean line error {statistics.mean(summary[label]):.1f}%, worst {worst:.1f}%")
    print("(* counts differed between rounds; the first round is shown)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["make", "frames", "count", "truth"])
    parser.add_argument("--only", help="comma-separated copy names")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=ARGS",
                        help="a label and the `lintel count` arguments it adds (repeatable)")
    parser.add_argument("--site", type=Path, help="the zones to draw on each copy (default fixtures/pets.toml)")
    parser.add_argument("--mirrored", action="store_true", help="each copy mirrored as well")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--encodings", type=int, default=1,
                        help="encodings of each copy (keyframe interval 30, 31, ...): the error's spread")
    parser.add_argument("--lintel", default=str(ROOT / "target/release/lintel"))
    parser.add_argument("--keep", type=Path, help="keep every run's JSON here")
    args = parser.parse_args()
    copies = by_name(args.only, args.mirrored)
    if args.site:
        if not args.site.is_file():
            fail(f"--site {args.site}: no such file")
        os.environ["DEGRADED_SITE"] = str(args.site.resolve())
    if args.what in ("count", "truth"):
        OUT.mkdir(parents=True, exist_ok=True)
        for copy in copies:
            write_site(copy)
        # A crop can leave a site's zones outside the picture: such a copy has nothing to count.
        empty = [c.name for c in copies if "[[zone]]" not in site_of(c).read_text()]
        if empty:
            print(f"degraded: no zone of {site_file().name} is in {', '.join(empty)}; left out", file=sys.stderr)
        copies = [c for c in copies if c.name not in empty]
    if args.what == "make":
        make(copies)
    elif args.what == "frames":
        make(copies)
        frames(copies)
    elif args.what == "truth":
        OUT.mkdir(parents=True, exist_ok=True)
        for copy in copies:
            write_truth(copy)
            write_site(copy)
            truth, _ = truth_counts(copy)
            print(copy.name, json.dumps(truth))
    else:
        if args.encodings < 1:
            fail(f"--encodings {args.encodings}: at least 1")
        make(copies, args.encodings)
        variants = []
        for v in args.variant or ["default="]:
            label, _, rest = v.partition("=")
            if not re.fullmatch(r"[\w.-]+", label):
                fail(f"--variant {v!r}: expected LABEL=ARGS")
            variants.append((label, rest))
        count(copies, variants, args.rounds, args.lintel, args.keep, args.encodings)


if __name__ == "__main__":
    main()
