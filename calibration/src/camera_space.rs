//! Where a camera's foot points meet its zones: the camera's picture (distorted, in the pixels of a
//! stream) mapped to the undistorted picture and, when the camera has a floor, to metres on it.

use crate::floor::{Floor, FloorError};
use crate::geometry::{CountingLine, Point, Polygon};
use crate::lens::Lens;
use crate::site::{CameraGeometry, Zone, ZoneShape, ZoneSpace};

/// A camera's lens and floor for pictures of one size.
#[derive(Debug, Clone)]
pub struct CameraSpace {
    size: (u32, u32),
    lens: Option<Lens>,
    floor: Option<Floor>,
    heights: Option<(f32, f32)>,
}

impl CameraSpace {
    /// The picture as it is: no lens, no floor.
    pub fn plain(size: (u32, u32)) -> Self {
        Self { size, lens: None, floor: None, heights: None }
    }

    /// `geometry` for pictures of `size`. A floor that does not fit this picture (the site file
    /// checked it on the lens's picture or a 4:3 one) is left out, with the reason.
    pub fn new(geometry: &CameraGeometry, size: (u32, u32)) -> (Self, Option<FloorError>) {
        let lens = geometry.lens.map(|l| l.scaled_to(size));
        let (floor, error) = match geometry.floor.map(|f| f.floor(geometry.lens.as_ref(), size)) {
            Some(Ok(floor)) => (Some(floor), None),
            Some(Err(error)) => (None, Some(error)),
            None => (None, None),
        };
        let heights = geometry
            .floor
            .and_then(|f| f.height_range_m)
            .filter(|_| floor.as_ref().is_some_and(Floor::measures_height));
        (Self { size, lens, floor, heights }, error)
    }

    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    pub fn lens(&self) -> Option<&Lens> {
        self.lens.as_ref()
    }

    pub fn floor(&self) -> Option<&Floor> {
        self.floor.as_ref()
    }

    /// The heights kept, when the filter is on and heights can be measured.
    pub fn height_range(&self) -> Option<(f32, f32)> {
        self.heights
    }

    /// A point of the camera's picture (pixels) in the undistorted picture (pixels).
    pub fn undistorted(&self, p: (f32, f32)) -> (f64, f64) {
        let p = (f64::from(p.0), f64::from(p.1));
        self.lens.map_or(p, |lens| lens.undistort(p))
    }

    /// A point of the undistorted picture (pixels) in the camera's picture (pixels).
    pub fn distorted(&self, p: (f64, f64)) -> (f64, f64) {
        self.lens.map_or(p, |lens| lens.distort(p))
    }

    /// Where a point of the camera's picture (pixels) is for the zones, undistorted once: in the
    /// undistorted picture (pixels), and, when `on_floor` is asked, on the floor in metres (`None`
    /// above the horizon or without a floor).
    pub fn zone_points(&self, p: (f32, f32), on_floor: bool) -> (Point, Option<Point>) {
        let undistorted = self.undistorted(p);
        let floor = on_floor.then(|| self.floor.as_ref()?.to_floor(undistorted)).flatten();
        let point = |(x, y): (f64, f64)| Point::new(x as f32, y as f32);
        (point(undistorted), floor.map(point))
    }

    /// Where a point of the camera's picture (pixels) is on the floor, in metres.
    pub fn floor_point(&self, p: (f32, f32)) -> Option<Point> {
        self.zone_points(p, true).1
    }

    /// A zone in its space's units (undistorted pixels or metres), with its hysteresis in them.
    pub fn zone_shape(&self, zone: &Zone) -> (ZoneShape, f32) {
        match zone.space {
            ZoneSpace::Picture => {
                let (w, h) = (self.size.0 as f32, self.size.1 as f32);
                (zone.shape_in_pixels(w, h), zone.min_distance_px(h))
            }
            ZoneSpace::Floor => (zone.shape.clone(), zone.min_distance),
        }
    }

    /// A zone drawn on the camera's picture (pixels): its points mapped there, straight between
    /// them (a line on the floor stays straight in the undistorted picture; through a distorting lens
    /// this is an approximation, good for a motion gate's mask). `None` for a floor zone with a point
    /// behind the camera.
    pub fn zone_in_picture(&self, zone: &Zone) -> Option<ZoneShape> {
        let (w, h) = (f64::from(self.size.0), f64::from(self.size.1));
        let map = |p: Point| -> Option<Point> {
            let undistorted = match zone.space {
                ZoneSpace::Picture => (f64::from(p.x) * w, f64::from(p.y) * h),
                ZoneSpace::Floor => self.floor.as_ref()?.to_picture((f64::from(p.x), f64::from(p.y)))?,
            };
            let (x, y) = self.distorted(undistorted);
            Some(Point::new(x as f32, y as f32))
        };
        Some(match &zone.shape {
            ZoneShape::Line(line) => ZoneShape::Line(CountingLine::new(map(line.a)?, map(line.b)?, line.entry_side)),
            ZoneShape::Polygon(polygon) => {
                ZoneShape::Polygon(Polygon::new(polygon.points.iter().map(|&p| map(p)).collect::<Option<Vec<_>>>()?))
            }
        })
    }

    /// The height in metres implied by a box standing at `foot` with its top at `head` (pixels of
    /// the camera's picture); `None` without a floor whose heights are measured.
    pub fn implied_height(&self, foot: (f32, f32), head: (f32, f32)) -> Option<f64> {
        self.floor.as_ref()?.implied_height(self.undistorted(foot), self.undistorted(head))
    }

    /// Whether a box of the camera's picture (left, top, right, bottom in pixels) may be a person:
    /// its implied height is in the range, or cannot be told (no filter; the box is cut by the top or
    /// bottom of the picture, so its height is not all there; its feet are above the horizon).
    pub fn plausible(&self, left: f32, top: f32, right: f32, bottom: f32) -> bool {
        let Some((low, high)) = self.heights else { return true };
        let margin = 2.0;
        if top <= margin || bottom >= self.size.1 as f32 - margin {
            return true;
        }
        let x = (left + right) / 2.0;
        match self.implied_height((x, bottom), (x, top)) {
            Some(height) => (f64::from(low)..=f64::from(high)).contains(&height),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Side;
    use crate::site::FloorSettings;

    /// A camera 3 m up looking down at 40°, f = 600 px, 768×576, and a lens with barrel distortion.
    fn project(lens: &Lens, [x, y, z]: [f64; 3]) -> (f64, f64) {
        let tilt = 40f64.to_radians();
        let (dx, dy, dz) = (x, y, z - 3.0);
        let xc = dx;
        let yc = -dz * tilt.cos() - dy * tilt.sin();
        let zc = dy * tilt.cos() - dz * tilt.sin();
        lens.distort((600.0 * xc / zc + 384.0, 600.0 * yc / zc + 288.0))
    }

    fn lens() -> Lens {
        Lens {
            size: (768, 576),
            focal: (600.0, 600.0),
            centre: (384.0, 288.0),
            distortion: [-0.25, 0.07, 0.0, 0.0, 0.0],
        }
    }

    fn space() -> CameraSpace {
        let lens = lens();
        let metres = [(-1.0, 2.0), (1.5, 2.0), (1.5, 5.0), (-1.0, 5.0)];
        // The technician places the floor points on the undistorted picture.
        let points = metres.map(|(x, y)| {
            let (u, v) = lens.undistort(project(&lens, [x, y, 0.0]));
            (u / 768.0, v / 576.0)
        });
        // A range narrower than the default, so a too-tall head stays in this steep camera's view.
        let floor = FloorSettings { points, metres, height_range_m: Some((0.8, 1.9)) };
        let (space, error) = CameraSpace::new(&CameraGeometry { lens: Some(lens), floor: Some(floor) }, (768, 576));
        assert_eq!(error, None);
        space
    }

    #[test]
    fn foot_points_of_the_distorted_picture_land_on_the_floor_in_metres() {
        let space = space();
        let lens = lens();
        for (x, y) in [(0.0, 3.0), (1.2, 4.4), (-0.8, 2.1)] {
            let (u, v) = project(&lens, [x, y, 0.0]);
            let p = space.floor_point((u as f32, v as f32)).unwrap();
            assert!((f64::from(p.x) - x).abs() < 0.01 && (f64::from(p.y) - y).abs() < 0.01, "({x},{y}) → {p:?}");
        }
    }

    #[test]
    fn boxes_of_no_persons_height_are_implausible() {
        let space = space();
        let lens = lens();
        let person = |x: f64, y: f64, h: f64| {
            let (fu, fv) = project(&lens, [x, y, 0.0]);
            let (_, hv) = project(&lens, [x, y, h]);
            (fu as f32 - 20.0, hv as f32, fu as f32 + 20.0, fv as f32)
        };
        for (height, kept) in [(1.75, true), (1.1, true), (0.3, false), (2.1, false)] {
            let (l, t, r, b) = person(0.2, 3.0, height);
            assert_eq!(space.plausible(l, t, r, b), kept, "{height} m");
        }
        // A box cut by the top of the picture is not judged.
        assert!(space.plausible(300.0, 0.0, 340.0, 200.0));
    }

    #[test]
    fn a_floor_line_is_drawn_where_its_points_are_seen() {
        let space = space();
        let zone = Zone {
            camera: "c".into(),
            name: "mat".into(),
            shape: ZoneShape::Line(CountingLine::new(Point::new(-1.0, 3.0), Point::new(1.5, 3.0), Side::Right)),
            min_distance: 0.25,
            aggregate: true,
            space: ZoneSpace::Floor,
            entrance: None,
        };
        let ZoneShape::Line(drawn) = space.zone_in_picture(&zone).unwrap() else { panic!("a line") };
        let (u, v) = project(&lens(), [-1.0, 3.0, 0.0]);
        assert!((f64::from(drawn.a.x) - u).abs() < 0.5 && (f64::from(drawn.a.y) - v).abs() < 0.5);
        let (shape, hysteresis) = space.zone_shape(&zone);
        assert_eq!((shape, hysteresis), (zone.shape.clone(), 0.25));
    }
}
