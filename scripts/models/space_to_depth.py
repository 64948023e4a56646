"""The image in 2x2 blocks, as the INT8 cut graphs take it (input_layout = "space-to-depth").

Shared by cut_detector_nms.py (which makes those graphs and checks them), evaluate_detector.py and
benches/python/peer.py (which feed them). Lintel writes the same layout in Rust (`InputBuffer`).
"""

import numpy as np


def in_blocks(frames: np.ndarray) -> np.ndarray:
    """[N, H, W, 3] -> [N, H/2, W/2, 12]: each 2x2 block's four pixels row by row, RGB each, as
    TensorFlow's SpaceToDepth with block size 2 orders them. H and W must be even."""
    n, h, w, _ = frames.shape
    blocks = frames.reshape(n, h // 2, 2, w // 2, 2, 3).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks.reshape(n, h // 2, w // 2, 12))
