//! The plain-data types that the detector and the re-ID model hand to the tracker.

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

/// A person found in a frame, with what they looked like when the re-ID model was asked: what
/// the tracker takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub detection: Detection,
    /// The appearance embedding, when the tracker asked for one (embeddings on demand).
    pub looks: Option<Embedding>,
}

impl From<Detection> for Sighting {
    fn from(detection: Detection) -> Self {
        Self { detection, looks: None }
    }
}

/// What a person looks like: an L2-normalised appearance vector from the re-ID model.
///
/// Lives in memory only, with the track it belongs to: it is never written, logged or published
/// (its `Debug` prints the length, not the values).
#[derive(Clone, PartialEq)]
pub struct Embedding(Box<[f32]>);

impl Embedding {
    /// Normalises `values` to unit length; `None` for an empty, zero or non-finite vector.
    pub fn normalised(values: &[f32]) -> Option<Self> {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        (norm.is_finite() && norm > 0.0).then(|| Self(values.iter().map(|v| v / norm).collect()))
    }

    pub fn values(&self) -> &[f32] {
        &self.0
    }

    /// 1 − cosine similarity: 0 for the same direction, 1 for orthogonal, 2 for opposite.
    pub fn distance(&self, other: &Embedding) -> f32 {
        1.0 - self.0.iter().zip(other.0.iter()).map(|(a, b)| a * b).sum::<f32>()
    }

    /// Moves this embedding toward `other` (exponential moving average, `keep` of the old one),
    /// then renormalises.
    pub fn blend(&mut self, other: &Embedding, keep: f32) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = keep * *a + (1.0 - keep) * b;
        }
        let norm = self.0.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            self.0.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedding({} values)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_length_and_compare_by_angle() {
        let a = Embedding::normalised(&[3.0, 4.0]).unwrap();
        assert_eq!(a.values(), &[0.6, 0.8]);
        let b = Embedding::normalised(&[-4.0, 3.0]).unwrap();
        assert!(a.distance(&a).abs() < 1e-6);
        assert!((a.distance(&b) - 1.0).abs() < 1e-6);
        assert!(Embedding::normalised(&[0.0, 0.0]).is_none());
        assert!(Embedding::normalised(&[f32::NAN, 1.0]).is_none());
        assert_eq!(format!("{a:?}"), "Embedding(2 values)");
    }

    #[test]
    fn blending_moves_toward_the_new_sighting_and_stays_normalised() {
        let mut a = Embedding::normalised(&[1.0, 0.0]).unwrap();
        let b = Embedding::normalised(&[0.0, 1.0]).unwrap();
        a.blend(&b, 0.9);
        let norm: f32 = a.values().iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(a.distance(&b) < 1.0 && a.values()[0] > a.values()[1]);
    }
}
