"""The non-max suppression of the TF Object Detection API's SSD postprocessor, in numpy.

What the full graphs' NMS Loop does for one image and one class: greedy, highest score first, at the
graph's IoU, at most 100 boxes, and the boxes clipped to the frame only afterwards. Used by
cut_detector_nms.py (to check a cut graph against its full one) and evaluate_detector.py (to score
the cut graphs, format "ssd-boxes"). Numpy only, so that either venv can import it.
"""

from __future__ import annotations

import numpy as np

MAX_DETECTIONS = 100


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes given by opposite corners, in the same order for both
    ((x1, y1, x2, y2) or (ymin, xmin, ymax, xmax))."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (ymin, xmin, ymax, xmax) boxes [A, 1, 4] and scores [A, 1] of one image -> kept ones."""
    boxes = boxes.reshape(-1, 4)
    scores = scores.reshape(-1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= min_score]
    kept: list[int] = []
    for i in order:
        ymin = np.maximum(boxes[kept, 0], boxes[i, 0])
        xmin = np.maximum(boxes[kept, 1], boxes[i, 1])
        ymax = np.minimum(boxes[kept, 2], boxes[i, 2])
        xmax = np.minimum(boxes[kept, 3], boxes[i, 3])
        inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
        if np.all(inter / (area[kept] + area[i] - inter) <= iou):
            kept.append(i)
        if len(kept) == MAX_DETECTIONS:
            break
    # Clipped after NMS, as the graph does: a box reaching past the frame suppresses with its full size.
    return np.clip(boxes[kept], 0.0, 1.0), scores[kept]
