//! The plain-data type that the detector hands to the tracker.

/// An axis-aligned box in pixel coordinates of the analysed frame (x right, y down).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

impl BBox {
    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { left: x1, top: y1, width: x2 - x1, height: y2 - y1 }
    }

    pub fn right(&self) -> f32 {
        self.left + self.width
    }

    pub fn bottom(&self) -> f32 {
        self.top + self.height
    }

    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Where the feet are: the point that counting zones test.
    pub fn bottom_centre(&self) -> (f32, f32) {
        (self.left + self.width / 2.0, self.bottom())
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.right().min(other.right()) - self.left.max(other.left)).max(0.0);
        let h = (self.bottom().min(other.bottom()) - self.top.max(other.top)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// One person found in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    /// Detector confidence in 0..1.
    pub score: f32,
    /// Class index as the model numbers it (the person class after filtering).
    pub class: u32,
}
