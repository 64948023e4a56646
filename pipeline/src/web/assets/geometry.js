// Lens and floor maths for the set-up page: the node's own (calibration/src/lens.rs and floor.rs),
// so what the page draws is where the node counts. Pixels are the live picture's. An ES module of
// pure functions (`import * as Geometry from "../geometry.js"`).

// A lens measured on another picture size, for pictures of `width` × `height`.
export function scaled(lens, width, height) {
  const [sx, sy] = [width / lens.size[0], height / lens.size[1]];
  return { size: [width, height], focal: [lens.focal[0] * sx, lens.focal[1] * sy],
    centre: [lens.centre[0] * sx, lens.centre[1] * sy], distortion: lens.distortion.slice() };
}

// Where the camera shows what a pinhole camera shows at [u, v].
export function distort(lens, [u, v]) {
  const [k1, k2, p1, p2, k3] = lens.distortion;
  const x = (u - lens.centre[0]) / lens.focal[0], y = (v - lens.centre[1]) / lens.focal[1];
  const r2 = x * x + y * y;
  const radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3));
  const xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x);
  const yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y;
  return [xd * lens.focal[0] + lens.centre[0], yd * lens.focal[1] + lens.centre[1]];
}

// The inverse, by the same fixed-point iteration as the node.
export function undistort(lens, [u, v]) {
  const [k1, k2, p1, p2, k3] = lens.distortion;
  const xd = (u - lens.centre[0]) / lens.focal[0], yd = (v - lens.centre[1]) / lens.focal[1];
  let [x, y] = [xd, yd];
  for (let i = 0; i < 20; i++) {
    const r2 = x * x + y * y;
    const radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3));
    if (!isFinite(radial) || Math.abs(radial) < 1e-9) break;
    const dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x), dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y;
    [x, y] = [(xd - dx) / radial, (yd - dy) / radial];
  }
  return [x * lens.focal[0] + lens.centre[0], y * lens.focal[1] + lens.centre[1]];
}

// The homography taking four points `from` to four points `to` (h33 = 1), or null.
export function homography(from, to) {
  const a = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i], [u, v] = to[i];
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    if (Math.abs(a[pivot][col]) < 1e-12) return null;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const f = a[r][col] / a[col][col];
      for (let k = col; k < 9; k++) a[r][k] -= f * a[col][k];
    }
  }
  const h = a.map((row, i) => row[8] / row[i]);
  const m = [[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1]];
  // The sign that puts the four points in front (w > 0), as the node does.
  const [x, y] = from[0];
  return m[2][0] * x + m[2][1] * y + 1 > 0 ? m : m.map((row) => row.map((v) => -v));
}

export function invert(m) {
  const c = (r, k) => {
    const [r1, r2, k1, k2] = [(r + 1) % 3, (r + 2) % 3, (k + 1) % 3, (k + 2) % 3];
    return m[r1][k1] * m[r2][k2] - m[r1][k2] * m[r2][k1];
  };
  const det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
  if (Math.abs(det) < 1e-15) return null;
  return [0, 1, 2].map((r) => [0, 1, 2].map((k) => c(k, r) / det));
}

// `m` applied to [x, y]; null behind the camera (or above the horizon).
export function apply(m, [x, y]) {
  const w = m[2][0] * x + m[2][1] * y + m[2][2];
  if (!(w > 1e-12)) return null;
  return [(m[0][0] * x + m[0][1] * y + m[0][2]) / w, (m[1][0] * x + m[1][1] * y + m[1][2]) / w];
}
