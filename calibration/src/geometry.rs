//! Plane geometry of counting zones, in image coordinates.
//!
//! Coordinates are as an image stores them: `x` grows to the right and `y`
//! grows **down**. "Left" and "right" of a line are therefore the sides as a
//! person sees them on the screen, standing at the line's start and looking
//! at its end.
//!
//! Every method is total: degenerate shapes (a line whose ends coincide, a
//! polygon with fewer than three points) give a documented answer instead of
//! panicking, because zones come from a file that a person edits.
//!
//! ```
//! use lintel_calibration::geometry::{CountingLine, Crossing, Point, Side};
//!
//! // A horizontal line across the screen; people come in from above (the left
//! // of A→B as drawn) towards the bottom (its right).
//! let line = CountingLine::new(Point::new(0.0, 50.0), Point::new(100.0, 50.0), Side::Right);
//! assert_eq!(line.side_of(Point::new(30.0, 80.0)), Some(Side::Right));
//! assert_eq!(
//!     line.crossing(Point::new(30.0, 20.0), Point::new(35.0, 70.0)),
//!     Some(Crossing::Entry)
//! );
//! ```

/// A point in image coordinates (pixels, or normalised 0..1 in a site file),
/// with `y` pointing down.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Horizontal coordinate, growing to the right.
    pub x: f32,
    /// Vertical coordinate, growing downwards.
    pub y: f32,
}

impl Point {
    /// A point at `(x, y)`.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    /// Scales a normalised (0..1) point to an image of `width` × `height`
    /// pixels.
    pub fn scale(self, width: f32, height: f32) -> Self {
        Self::new(self.x * width, self.y * height)
    }

    /// Euclidean distance to `other`.
    pub fn distance(self, other: Point) -> f32 {
        (f64::from(self.x) - f64::from(other.x)).hypot(f64::from(self.y) - f64::from(other.y)) as f32
    }
}

/// A side of a directed segment A→B, as seen on the screen (y down) by a
/// person standing at A and looking at B.
///
/// With A = (0, 0) and B = (10, 0), the point (5, 5), below the line on the
/// screen, is on the [`Side::Right`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The left-hand side of A→B on the screen.
    Left,
    /// The right-hand side of A→B on the screen.
    Right,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Self {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// The direction of a counted passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crossing {
    /// From outside to inside: towards a line's entry side, or into a polygon.
    Entry,
    /// From inside to outside.
    Exit,
}

impl Crossing {
    /// The crossing in the opposite direction.
    pub fn reversed(self) -> Self {
        match self {
            Crossing::Entry => Crossing::Exit,
            Crossing::Exit => Crossing::Entry,
        }
    }
}

/// A directional counting line: the segment A–B, and the side of A→B that is
/// "inside" the building.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountingLine {
    /// Start of the segment.
    pub a: Point,
    /// End of the segment.
    pub b: Point,
    /// The side of A→B that a person reaches when entering.
    pub entry_side: Side,
}

impl CountingLine {
    /// A line from `a` to `b` whose `entry_side` is inside.
    pub const fn new(a: Point, b: Point, entry_side: Side) -> Self {
        Self { a, b, entry_side }
    }

    /// Scales a normalised (0..1) line to an image of `width` × `height`
    /// pixels. Positive scale factors keep every point on its side.
    pub fn scale(&self, width: f32, height: f32) -> Self {
        Self::new(self.a.scale(width, height), self.b.scale(width, height), self.entry_side)
    }

    /// Length of the segment.
    pub fn length(&self) -> f32 {
        self.a.distance(self.b)
    }

    /// Perpendicular distance from `p` to the infinite line through A and B,
    /// positive on the entry side and negative on the other.
    ///
    /// A degenerate line (A = B) has no sides: the distance is 0.
    pub fn signed_distance(&self, p: Point) -> f32 {
        let length = f64::from(self.a.x - self.b.x).hypot(f64::from(self.a.y - self.b.y));
        if length == 0.0 {
            return 0.0;
        }
        (self.entry_orientation(p) / length) as f32
    }

    /// The side of A→B that `p` is on, or `None` exactly on the line (and for
    /// every point when A = B).
    pub fn side_of(&self, p: Point) -> Option<Side> {
        side_from_orientation(orient(self.a, self.b, p))
    }

    /// Whether `p` is on the entry side (strictly: a point on the line is not).
    pub fn is_on_entry_side(&self, p: Point) -> bool {
        self.entry_orientation(p) > 0.0
    }

    /// Where `p` projects onto A→B: 0 at A, 1 at B, outside 0..1 beyond the
    /// ends. A degenerate line gives 0.
    pub fn projection(&self, p: Point) -> f32 {
        let (dx, dy) = (f64::from(self.b.x) - f64::from(self.a.x), f64::from(self.b.y) - f64::from(self.a.y));
        let length_sq = dx * dx + dy * dy;
        if length_sq == 0.0 {
            return 0.0;
        }
        let (vx, vy) = (f64::from(p.x) - f64::from(self.a.x), f64::from(p.y) - f64::from(self.a.y));
        ((vx * dx + vy * dy) / length_sq) as f32
    }

    /// Whether `p` projects within the segment, its ends widened by `margin`
    /// (a fraction of the segment's length: 0.1 accepts t in −0.1..=1.1).
    pub fn spans(&self, p: Point, margin: f32) -> bool {
        let t = self.projection(p);
        (-margin..=1.0 + margin).contains(&t)
    }

    /// The unit vector perpendicular to the line that points to the entry
    /// side, or `None` for a degenerate line. Handy to draw the "in" arrow.
    pub fn entry_normal(&self) -> Option<Point> {
        let length = self.length();
        if length == 0.0 {
            return None;
        }
        let (dx, dy) = ((self.b.x - self.a.x) / length, (self.b.y - self.a.y) / length);
        // With y down, (−dy, dx) is the right-hand normal of (dx, dy).
        let right = Point::new(-dy, dx);
        Some(match self.entry_side {
            Side::Right => right,
            Side::Left => Point::new(-right.x, -right.y),
        })
    }

    /// Whether the move `from` → `to` passes through the segment A–B
    /// (properly or touching it), and in which direction.
    ///
    /// A point exactly on the line belongs to the non-entry side. So a path
    /// that stops on the line and then goes on counts once, not twice, and a
    /// move along the line counts nothing.
    pub fn crossing(&self, from: Point, to: Point) -> Option<Crossing> {
        let from_inside = self.is_on_entry_side(from);
        let to_inside = self.is_on_entry_side(to);
        if from_inside == to_inside {
            return None;
        }
        // One end is strictly off the line, so from→to meets the infinite
        // line once; it meets the segment if A and B are not strictly on the
        // same side of from→to.
        let at_a = orient(from, to, self.a);
        let at_b = orient(from, to, self.b);
        if (at_a > 0.0 && at_b > 0.0) || (at_a < 0.0 && at_b < 0.0) {
            return None;
        }
        Some(if to_inside { Crossing::Entry } else { Crossing::Exit })
    }

    /// Orientation of `p` scaled by the line's length, signed so that the
    /// entry side is positive.
    fn entry_orientation(&self, p: Point) -> f64 {
        let o = orient(self.a, self.b, p);
        match self.entry_side {
            Side::Right => o,
            Side::Left => -o,
        }
    }
}

/// A closed polygon (a door area), its last point joined to its first.
///
/// A usable polygon has at least three points and a non-zero area; the site
/// file checks that. With fewer points the methods still answer: the
/// "polygon" is then its points and the segments between them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Polygon {
    /// The vertices, in order (either direction).
    pub points: Vec<Point>,
}

impl Polygon {
    /// A polygon through `points`.
    pub fn new(points: Vec<Point>) -> Self {
        Self { points }
    }

    /// Scales a normalised (0..1) polygon to an image of `width` × `height`
    /// pixels.
    pub fn scale(&self, width: f32, height: f32) -> Self {
        Self::new(self.points.iter().map(|p| p.scale(width, height)).collect())
    }

    /// The edges, each as (start, end), closing the polygon.
    pub fn edges(&self) -> impl Iterator<Item = (Point, Point)> + '_ {
        let next = self.points.iter().cycle().skip(1);
        self.points.iter().copied().zip(next.copied())
    }

    /// The enclosed area (always ≥ 0, whichever way the points turn).
    pub fn area(&self) -> f32 {
        (self.signed_area_f64().abs()) as f32
    }

    /// The centre of mass of the enclosed area, or `None` if the area is 0.
    pub fn centroid(&self) -> Option<Point> {
        let area = self.signed_area_f64();
        if area == 0.0 {
            return None;
        }
        let (mut cx, mut cy) = (0.0f64, 0.0f64);
        for (p, q) in self.edges() {
            let cross = f64::from(p.x) * f64::from(q.y) - f64::from(q.x) * f64::from(p.y);
            cx += (f64::from(p.x) + f64::from(q.x)) * cross;
            cy += (f64::from(p.y) + f64::from(q.y)) * cross;
        }
        Some(Point::new((cx / (6.0 * area)) as f32, (cy / (6.0 * area)) as f32))
    }

    /// Whether `p` is inside (even-odd rule); points on the boundary count
    /// as inside. An empty polygon contains nothing.
    pub fn contains(&self, p: Point) -> bool {
        if self.edges().any(|(u, v)| on_segment(u, v, p)) {
            return true;
        }
        let mut inside = false;
        for (u, v) in self.edges() {
            // Edges that straddle the horizontal through p (half-open, so a
            // vertex on it is counted once) and cross it to the right of p.
            if (u.y <= p.y) != (v.y <= p.y) {
                let o = orient(u, v, p);
                if (v.y > u.y && o > 0.0) || (v.y < u.y && o < 0.0) {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Distance from `p` to the nearest edge, inside or outside alike;
    /// infinite for an empty polygon.
    pub fn distance_to_boundary(&self, p: Point) -> f32 {
        self.edges().map(|(u, v)| segment_distance(u, v, p)).fold(f64::INFINITY, f64::min) as f32
    }

    /// Whether the move `from` → `to` enters or leaves the polygon.
    pub fn transition(&self, from: Point, to: Point) -> Option<Crossing> {
        match (self.contains(from), self.contains(to)) {
            (false, true) => Some(Crossing::Entry),
            (true, false) => Some(Crossing::Exit),
            _ => None,
        }
    }

    /// Shoelace formula; positive when the points turn clockwise on screen.
    fn signed_area_f64(&self) -> f64 {
        self.edges().map(|(p, q)| f64::from(p.x) * f64::from(q.y) - f64::from(q.x) * f64::from(p.y)).sum::<f64>() / 2.0
    }
}

fn side_from_orientation(o: f64) -> Option<Side> {
    if o > 0.0 {
        Some(Side::Right)
    } else if o < 0.0 {
        Some(Side::Left)
    } else {
        None
    }
}

/// Twice the signed area of the triangle p, q, r: positive when `r` is on
/// the right of p→q as seen on the screen (y down), negative on the left,
/// zero when the three are collinear.
fn orient(p: Point, q: Point, r: Point) -> f64 {
    // Evaluate from the lexicographically smaller end so that
    // orient(p, q, r) == -orient(q, p, r) exactly, not only up to rounding:
    // a line drawn the other way, or a move replayed backwards, then gives
    // exactly the mirrored answer.
    if (q.x, q.y) < (p.x, p.y) { -orient_from(q, p, r) } else { orient_from(p, q, r) }
}

fn orient_from(p: Point, q: Point, r: Point) -> f64 {
    // f64: the products of f32 differences keep (nearly) all their bits.
    let (px, py) = (f64::from(p.x), f64::from(p.y));
    (f64::from(q.x) - px) * (f64::from(r.y) - py) - (f64::from(q.y) - py) * (f64::from(r.x) - px)
}

/// Whether `p` lies on the closed segment u–v.
fn on_segment(u: Point, v: Point, p: Point) -> bool {
    orient(u, v, p) == 0.0 && p.x >= u.x.min(v.x) && p.x <= u.x.max(v.x) && p.y >= u.y.min(v.y) && p.y <= u.y.max(v.y)
}

/// Distance from `p` to the closed segment u–v.
fn segment_distance(u: Point, v: Point, p: Point) -> f64 {
    let (ux, uy) = (f64::from(u.x), f64::from(u.y));
    let (dx, dy) = (f64::from(v.x) - ux, f64::from(v.y) - uy);
    let (px, py) = (f64::from(p.x) - ux, f64::from(p.y) - uy);
    let length_sq = dx * dx + dy * dy;
    let t = if length_sq == 0.0 { 0.0 } else { ((px * dx + py * dy) / length_sq).clamp(0.0, 1.0) };
    (px - t * dx).hypot(py - t * dy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pt(x: f32, y: f32) -> Point {
        Point::new(x, y)
    }

    fn horizontal(entry_side: Side) -> CountingLine {
        CountingLine::new(pt(0.0, 0.0), pt(10.0, 0.0), entry_side)
    }

    fn square() -> Polygon {
        Polygon::new(vec![pt(0.0, 0.0), pt(10.0, 0.0), pt(10.0, 10.0), pt(0.0, 10.0)])
    }

    #[test]
    fn below_a_left_to_right_line_is_its_right() {
        let line = horizontal(Side::Right);
        assert_eq!(line.side_of(pt(5.0, 5.0)), Some(Side::Right));
        assert_eq!(line.side_of(pt(5.0, -5.0)), Some(Side::Left));
        assert_eq!(line.side_of(pt(20.0, 0.0)), None);
    }

    #[test]
    fn a_downward_line_has_its_right_on_the_left_of_the_screen() {
        // Walking down the screen, one's right hand points to the screen's left.
        let line = CountingLine::new(pt(5.0, 0.0), pt(5.0, 10.0), Side::Right);
        assert_eq!(line.side_of(pt(0.0, 5.0)), Some(Side::Right));
        assert_eq!(line.side_of(pt(9.0, 5.0)), Some(Side::Left));
    }

    #[test]
    fn signed_distance_is_perpendicular_and_positive_on_the_entry_side() {
        let right = horizontal(Side::Right);
        assert_eq!(right.signed_distance(pt(5.0, 3.0)), 3.0);
        assert_eq!(right.signed_distance(pt(-50.0, -2.0)), -2.0);
        let left = horizontal(Side::Left);
        assert_eq!(left.signed_distance(pt(5.0, 3.0)), -3.0);
        let diagonal = CountingLine::new(pt(0.0, 0.0), pt(3.0, 4.0), Side::Right);
        // A→B runs down and to the right, so its right hand points down-left.
        assert_eq!(diagonal.signed_distance(pt(-4.0, 3.0)), 5.0);
        assert_eq!(diagonal.signed_distance(pt(4.0, -3.0)), -5.0);
    }

    #[test]
    fn degenerate_line_has_no_sides_and_counts_nothing() {
        let line = CountingLine::new(pt(1.0, 1.0), pt(1.0, 1.0), Side::Right);
        assert_eq!(line.side_of(pt(5.0, 5.0)), None);
        assert_eq!(line.signed_distance(pt(5.0, 5.0)), 0.0);
        assert_eq!(line.crossing(pt(0.0, 0.0), pt(5.0, 5.0)), None);
        assert_eq!(line.projection(pt(5.0, 5.0)), 0.0);
        assert_eq!(line.entry_normal(), None);
    }

    #[test]
    fn projection_and_spans() {
        let line = horizontal(Side::Right);
        assert_eq!(line.projection(pt(5.0, 7.0)), 0.5);
        assert_eq!(line.projection(pt(-1.0, 7.0)), -0.1);
        assert!(line.spans(pt(10.0, -3.0), 0.0));
        assert!(!line.spans(pt(10.5, -3.0), 0.0));
        assert!(line.spans(pt(10.5, -3.0), 0.1));
        assert!(!line.spans(pt(-2.0, 0.0), 0.1));
    }

    #[test]
    fn entry_normal_points_to_the_entry_side() {
        assert_eq!(horizontal(Side::Right).entry_normal(), Some(pt(0.0, 1.0)));
        assert_eq!(horizontal(Side::Left).entry_normal(), Some(pt(0.0, -1.0)));
    }

    #[test]
    fn crossing_direction_follows_the_entry_side() {
        let right = horizontal(Side::Right);
        assert_eq!(right.crossing(pt(5.0, -1.0), pt(5.0, 1.0)), Some(Crossing::Entry));
        assert_eq!(right.crossing(pt(5.0, 1.0), pt(5.0, -1.0)), Some(Crossing::Exit));
        let left = horizontal(Side::Left);
        assert_eq!(left.crossing(pt(5.0, -1.0), pt(5.0, 1.0)), Some(Crossing::Exit));
    }

    #[test]
    fn crossing_outside_the_segment_or_staying_on_one_side_is_none() {
        let line = horizontal(Side::Right);
        assert_eq!(line.crossing(pt(11.0, -1.0), pt(12.0, 1.0)), None);
        assert_eq!(line.crossing(pt(-3.0, -1.0), pt(-1.0, 1.0)), None);
        assert_eq!(line.crossing(pt(2.0, 1.0), pt(8.0, 3.0)), None);
        // Sliding along the line itself.
        assert_eq!(line.crossing(pt(2.0, 0.0), pt(8.0, 0.0)), None);
    }

    #[test]
    fn touching_an_end_of_the_segment_counts() {
        let line = horizontal(Side::Right);
        assert_eq!(line.crossing(pt(9.0, -1.0), pt(11.0, 1.0)), Some(Crossing::Entry));
        assert_eq!(line.crossing(pt(0.0, 5.0), pt(0.0, -5.0)), Some(Crossing::Exit));
    }

    #[test]
    fn stopping_on_the_line_counts_once() {
        let line = horizontal(Side::Right);
        let path = [pt(5.0, -2.0), pt(5.0, 0.0), pt(5.0, 0.0), pt(5.0, 2.0)];
        let crossings: Vec<_> = path.windows(2).filter_map(|w| line.crossing(w[0], w[1])).collect();
        assert_eq!(crossings, vec![Crossing::Entry]);
        let back: Vec<_> = path.windows(2).rev().filter_map(|w| line.crossing(w[1], w[0])).collect();
        assert_eq!(back, vec![Crossing::Exit]);
    }

    #[test]
    fn scaled_line_and_polygon_are_in_pixels() {
        let line = CountingLine::new(pt(0.0, 0.25), pt(1.0, 0.75), Side::Left).scale(640.0, 480.0);
        assert_eq!(line.a, pt(0.0, 120.0));
        assert_eq!(line.b, pt(640.0, 360.0));
        assert_eq!(line.entry_side, Side::Left);
        let poly = Polygon::new(vec![pt(0.5, 0.5), pt(1.0, 0.5), pt(1.0, 1.0)]).scale(200.0, 100.0);
        assert_eq!(poly.points, vec![pt(100.0, 50.0), pt(200.0, 50.0), pt(200.0, 100.0)]);
    }

    #[test]
    fn square_contains_inside_and_boundary_but_not_outside() {
        let square = square();
        assert!(square.contains(pt(5.0, 5.0)));
        assert!(square.contains(pt(0.0, 0.0)));
        assert!(square.contains(pt(10.0, 4.0)));
        assert!(square.contains(pt(3.0, 10.0)));
        assert!(!square.contains(pt(10.1, 4.0)));
        assert!(!square.contains(pt(-1.0, 0.0)));
        assert!(!square.contains(pt(5.0, 11.0)));
        // On the horizontal through a vertex, outside.
        assert!(!square.contains(pt(15.0, 10.0)));
    }

    #[test]
    fn concave_polygon_excludes_its_notch() {
        // An L shape: the square's top-right quarter is missing.
        let l =
            Polygon::new(vec![pt(0.0, 0.0), pt(5.0, 0.0), pt(5.0, 5.0), pt(10.0, 5.0), pt(10.0, 10.0), pt(0.0, 10.0)]);
        assert!(l.contains(pt(2.0, 2.0)));
        assert!(l.contains(pt(8.0, 8.0)));
        assert!(!l.contains(pt(8.0, 2.0)));
        assert!(l.contains(pt(5.0, 2.0)));
        assert_eq!(l.area(), 75.0);
    }

    #[test]
    fn distance_to_boundary_inside_and_outside() {
        let square = square();
        assert_eq!(square.distance_to_boundary(pt(5.0, 5.0)), 5.0);
        assert_eq!(square.distance_to_boundary(pt(2.0, 5.0)), 2.0);
        assert_eq!(square.distance_to_boundary(pt(13.0, 14.0)), 5.0);
        assert_eq!(square.distance_to_boundary(pt(10.0, 3.0)), 0.0);
        assert_eq!(Polygon::default().distance_to_boundary(pt(0.0, 0.0)), f32::INFINITY);
    }

    #[test]
    fn area_and_centroid() {
        let square = square();
        assert_eq!(square.area(), 100.0);
        assert_eq!(square.centroid(), Some(pt(5.0, 5.0)));
        let reversed = Polygon::new(square.points.iter().rev().copied().collect());
        assert_eq!(reversed.area(), 100.0);
        assert_eq!(reversed.centroid(), Some(pt(5.0, 5.0)));
        let flat = Polygon::new(vec![pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 2.0)]);
        assert_eq!(flat.area(), 0.0);
        assert_eq!(flat.centroid(), None);
    }

    #[test]
    fn degenerate_polygons_answer() {
        assert!(!Polygon::default().contains(pt(0.0, 0.0)));
        let one = Polygon::new(vec![pt(1.0, 1.0)]);
        assert!(one.contains(pt(1.0, 1.0)));
        assert!(!one.contains(pt(1.0, 2.0)));
        assert_eq!(one.distance_to_boundary(pt(4.0, 5.0)), 5.0);
    }

    #[test]
    fn polygon_transition() {
        let square = square();
        assert_eq!(square.transition(pt(-5.0, 5.0), pt(5.0, 5.0)), Some(Crossing::Entry));
        assert_eq!(square.transition(pt(5.0, 5.0), pt(15.0, 5.0)), Some(Crossing::Exit));
        assert_eq!(square.transition(pt(1.0, 1.0), pt(9.0, 9.0)), None);
        assert_eq!(square.transition(pt(-1.0, 5.0), pt(11.0, 5.0)), None);
    }

    fn coord() -> impl Strategy<Value = f32> {
        -1000.0f32..1000.0
    }

    fn point() -> impl Strategy<Value = Point> {
        (coord(), coord()).prop_map(|(x, y)| Point::new(x, y))
    }

    /// Integer coordinates: every computation on them is exact, so points
    /// land exactly on lines and edges often.
    fn grid_point() -> impl Strategy<Value = Point> {
        (-20i16..=20, -20i16..=20).prop_map(|(x, y)| Point::new(f32::from(x), f32::from(y)))
    }

    fn side() -> impl Strategy<Value = Side> {
        prop_oneof![Just(Side::Left), Just(Side::Right)]
    }

    fn line() -> impl Strategy<Value = CountingLine> {
        (point(), point(), side()).prop_map(|(a, b, s)| CountingLine::new(a, b, s))
    }

    /// Convex polygons: points on an ellipse at increasing angles.
    fn convex_polygon() -> impl Strategy<Value = Polygon> {
        (point(), 1.0f32..500.0, 1.0f32..500.0, prop::collection::vec(0.05f32..1.0, 3..12), any::<bool>())
            .prop_filter_map("angle steps must leave a proper polygon", |(centre, rx, ry, steps, reverse)| {
                let total: f32 = steps.iter().sum();
                let mut angle = 0.0f32;
                let mut points = Vec::new();
                for step in &steps {
                    // Each step is under half a turn, so the polygon is convex.
                    let step = step / total * std::f32::consts::TAU;
                    if step >= std::f32::consts::PI {
                        return None;
                    }
                    points.push(Point::new(centre.x + rx * angle.cos(), centre.y + ry * angle.sin()));
                    angle += step;
                }
                if reverse {
                    points.reverse();
                }
                let polygon = Polygon::new(points);
                (polygon.area() > 1.0).then_some(polygon)
            })
    }

    proptest! {
        #[test]
        fn side_of_is_antisymmetric_under_swapping_ends(line in line(), p in point()) {
            let swapped = CountingLine::new(line.b, line.a, line.entry_side);
            prop_assert_eq!(swapped.side_of(p), line.side_of(p).map(Side::opposite));
        }

        #[test]
        fn swapping_ends_and_entry_side_keeps_distance_and_crossings(
            line in line(), p in point(), q in point()
        ) {
            let mirrored = CountingLine::new(line.b, line.a, line.entry_side.opposite());
            prop_assert_eq!(mirrored.signed_distance(p), line.signed_distance(p));
            prop_assert_eq!(mirrored.crossing(p, q), line.crossing(p, q));
        }

        #[test]
        fn crossing_backwards_is_the_reverse(line in line(), p in point(), q in point()) {
            prop_assert_eq!(line.crossing(q, p), line.crossing(p, q).map(Crossing::reversed));
        }

        #[test]
        fn crossing_backwards_is_the_reverse_on_a_grid(
            a in grid_point(), b in grid_point(), s in side(), p in grid_point(), q in grid_point()
        ) {
            let line = CountingLine::new(a, b, s);
            prop_assert_eq!(line.crossing(q, p), line.crossing(p, q).map(Crossing::reversed));
        }

        #[test]
        fn a_crossing_changes_side(line in line(), p in point(), q in point()) {
            match line.crossing(p, q) {
                Some(Crossing::Entry) => {
                    prop_assert_eq!(line.side_of(q), Some(line.entry_side));
                    prop_assert_ne!(line.side_of(p), Some(line.entry_side));
                }
                Some(Crossing::Exit) => {
                    prop_assert_eq!(line.side_of(p), Some(line.entry_side));
                    prop_assert_ne!(line.side_of(q), Some(line.entry_side));
                }
                None => {}
            }
        }

        #[test]
        fn far_on_the_entry_side_is_positive(
            line in line().prop_filter("non-degenerate", |l| l.length() > 1.0),
            k in 1.0f32..1000.0,
        ) {
            let n = line.entry_normal().unwrap();
            let mid = Point::new((line.a.x + line.b.x) / 2.0, (line.a.y + line.b.y) / 2.0);
            let inside = Point::new(mid.x + n.x * k, mid.y + n.y * k);
            let outside = Point::new(mid.x - n.x * k, mid.y - n.y * k);
            let d = line.signed_distance(inside);
            prop_assert!(d > 0.0);
            prop_assert!((d - k).abs() <= 1e-3 * (k + 1000.0), "distance {} for {}", d, k);
            prop_assert!(line.signed_distance(outside) < 0.0);
            prop_assert_eq!(line.side_of(inside), Some(line.entry_side));
            prop_assert!(line.spans(inside, 1e-3));
            prop_assert_eq!(line.crossing(outside, inside), Some(Crossing::Entry));
            prop_assert_eq!(line.crossing(inside, outside), Some(Crossing::Exit));
        }

        #[test]
        fn sides_survive_positive_scaling(
            a in grid_point(), b in grid_point(), s in side(), p in grid_point(),
            w in 1u8..64, h in 1u8..64,
        ) {
            let line = CountingLine::new(a, b, s);
            let (w, h) = (f32::from(w), f32::from(h));
            prop_assert_eq!(line.scale(w, h).side_of(p.scale(w, h)), line.side_of(p));
        }

        /// Along any path, against a line longer than the path's reach,
        /// entries minus exits is where the path ends minus where it began:
        /// nothing is counted twice, whatever stops on the line.
        #[test]
        fn a_path_is_counted_once_per_passage(
            s in side(),
            tilt in -3i16..=3,
            path in prop::collection::vec(grid_point(), 2..30),
        ) {
            let tilt = f32::from(tilt);
            let line = CountingLine::new(Point::new(-1000.0, -tilt * 100.0), Point::new(1000.0, tilt * 100.0), s);
            let net: i32 = path
                .windows(2)
                .filter_map(|w| line.crossing(w[0], w[1]))
                .map(|c| if c == Crossing::Entry { 1 } else { -1 })
                .sum();
            let inside = |p: Point| i32::from(line.is_on_entry_side(p));
            prop_assert_eq!(net, inside(path[path.len() - 1]) - inside(path[0]));
        }

        #[test]
        fn convex_polygon_contains_its_centroid_and_vertices(polygon in convex_polygon()) {
            let c = polygon.centroid().unwrap();
            prop_assert!(polygon.contains(c));
            prop_assert!(polygon.distance_to_boundary(c) > 0.0);
            for &v in &polygon.points {
                prop_assert!(polygon.contains(v));
                prop_assert_eq!(polygon.distance_to_boundary(v), 0.0);
            }
        }

        #[test]
        fn convex_polygon_excludes_points_beyond_its_bounding_box(
            polygon in convex_polygon(), p in point(),
        ) {
            let max_x = polygon.points.iter().map(|p| p.x).fold(f32::MIN, f32::max);
            let beyond = Point::new(max_x + 1.0 + p.x.abs(), p.y);
            prop_assert!(!polygon.contains(beyond));
            prop_assert!(polygon.distance_to_boundary(beyond) >= 1.0);
        }

        #[test]
        fn polygon_membership_ignores_vertex_order_and_start(
            polygon in convex_polygon(), p in point(), rotate in 0usize..12,
        ) {
            let mut points = polygon.points.clone();
            let n = points.len();
            points.rotate_left(rotate % n);
            points.reverse();
            let other = Polygon::new(points);
            prop_assert_eq!(other.contains(p), polygon.contains(p));
        }

        #[test]
        fn polygon_transition_agrees_with_contains(polygon in convex_polygon(), p in point(), q in point()) {
            let expected = match (polygon.contains(p), polygon.contains(q)) {
                (false, true) => Some(Crossing::Entry),
                (true, false) => Some(Crossing::Exit),
                _ => None,
            };
            prop_assert_eq!(polygon.transition(p, q), expected);
            prop_assert_eq!(polygon.transition(q, p), expected.map(Crossing::reversed));
        }
    }
}
