//! The live picture as a technician sees it: people hidden ([`privacy`]) before a pixel leaves the box (unless
//! a technician asked to see them, for [`UNBLUR_FOR`]), undistorted through the camera's lens on
//! request, encoded as JPEG.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lintel_calibration::Lens;

use super::SetupError;
use crate::privacy::{self, Hidden, Picture};

/// How long one request to unblur lasts.
pub const UNBLUR_FOR: Duration = Duration::from_secs(30);
/// JPEG quality of the live picture: enough to place a line, small enough for a few a second.
const JPEG_QUALITY: u8 = 75;

/// Where each pixel of the undistorted picture comes from in the camera's picture.
#[derive(Debug)]
pub struct UndistortionMap {
    lens: Lens,
    size: (u32, u32),
    /// One per output pixel, row by row.
    sources: Vec<(f32, f32)>,
}

impl UndistortionMap {
    /// The map that undistorts pictures of `size` through `lens`.
    pub fn new(lens: Lens, size: (u32, u32)) -> Self {
        Self { lens, size, sources: lens.undistortion_map(size) }
    }

    /// `picture` sampled (bilinear) where the map says; outside the camera's picture is black.
    pub fn apply(&self, picture: &Picture) -> Picture {
        let (w, h) = (picture.width as usize, picture.height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        for (out, &(sx, sy)) in rgb.chunks_exact_mut(3).zip(&self.sources) {
            if !(sx >= 0.0 && sy >= 0.0 && sx <= (w - 1) as f32 && sy <= (h - 1) as f32) {
                continue;
            }
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let at = |x: usize, y: usize, c: usize| f32::from(picture.rgb[(y * w + x) * 3 + c]);
            for (c, value) in out.iter_mut().enumerate() {
                let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
                let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
                *value = (top * (1.0 - fy) + bottom * fy).round() as u8;
            }
        }
        Picture { width: picture.width, height: picture.height, rgb }
    }
}

/// Per camera, the last map that undistorts its picture: made again only when the lens or the
/// picture's size changes (a map costs a lens inversion per pixel).
#[derive(Debug, Default)]
pub struct UndistortionMaps {
    by_camera: Mutex<HashMap<usize, Arc<UndistortionMap>>>,
}

impl UndistortionMaps {
    /// The map that undistorts camera `camera`'s pictures of `size` through `lens`.
    pub fn for_camera(&self, camera: usize, lens: Lens, size: (u32, u32)) -> Arc<UndistortionMap> {
        let mut maps = self.by_camera.lock().unwrap_or_else(|p| p.into_inner());
        match maps.get(&camera) {
            Some(map) if map.lens == lens && map.size == size => map.clone(),
            _ => {
                let map = Arc::new(UndistortionMap::new(lens, size));
                maps.insert(camera, map.clone());
                map
            }
        }
    }
}

/// The picture as served: what `hidden` says pixelated unless `unblurred`, then undistorted
/// through `undistortion` when given. Hidden first: the boxes and cells are in the camera's picture.
pub fn served(picture: &Picture, hidden: &Hidden, unblurred: bool, undistortion: Option<&UndistortionMap>) -> Picture {
    let mut pixels = picture.clone();
    if !unblurred {
        privacy::hide(&mut pixels, hidden);
    }
    match undistortion {
        Some(map) => map.apply(&pixels),
        None => pixels,
    }
}

/// What a served picture hides, as the page's badge and the `x-lintel-hidden` header say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hiding {
    /// Nothing: a technician opened an unblur window.
    Nothing,
    /// The whole picture: the camera's empty scene is still being learned.
    Everything,
    /// Everyone tracked, every box the detector found and everything that differs from the empty
    /// scene.
    PeopleAndMotion,
}

impl Hiding {
    /// What a picture with `hidden` hides, served `unblurred` or not.
    pub fn of(hidden: &Hidden, unblurred: bool) -> Self {
        match (unblurred, hidden.learning()) {
            (true, _) => Hiding::Nothing,
            (false, true) => Hiding::Everything,
            (false, false) => Hiding::PeopleAndMotion,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hiding::Nothing => "nothing",
            Hiding::Everything => "everything",
            Hiding::PeopleAndMotion => "people_and_motion",
        }
    }
}

/// `picture` as a JPEG.
pub fn encode_jpeg(picture: &Picture) -> Result<Vec<u8>, SetupError> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    encoder.encode(&picture.rgb, picture.width as u16, picture.height as u16, jpeg_encoder::ColorType::Rgb)?;
    Ok(out)
}

/// Per camera, until when a technician asked to see people unblurred.
#[derive(Debug, Default)]
pub struct UnblurWindows {
    until: Mutex<HashMap<usize, Instant>>,
}

impl UnblurWindows {
    /// People on camera `camera` are shown unblurred from `now` for [`UNBLUR_FOR`].
    pub fn open(&self, camera: usize, now: Instant) {
        self.until.lock().unwrap_or_else(|p| p.into_inner()).insert(camera, now + UNBLUR_FOR);
    }

    /// How long people on camera `camera` are still shown unblurred, at `now`.
    pub fn left(&self, camera: usize, now: Instant) -> Duration {
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner()).get(&camera).copied();
        until.map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::test_pictures::{at, checkerboard};

    fn shifted_right(size: (u32, u32), by: f32) -> UndistortionMap {
        let lens = Lens { size, focal: (10.0, 10.0), centre: (4.0, 3.0), distortion: [0.0; 5] };
        let sources = (0..size.1).flat_map(|y| (0..size.0).map(move |x| (x as f32 - by, y as f32))).collect();
        UndistortionMap { lens, size, sources }
    }

    #[test]
    fn a_map_samples_between_pixels_and_leaves_outside_the_picture_black() {
        let picture = Picture { width: 4, height: 1, rgb: [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40].to_vec() };
        let moved = shifted_right((4, 1), 0.5).apply(&picture);
        // Pixel 0 samples at −0.5, outside: black; the others halfway between two.
        assert_eq!(moved.rgb.chunks(3).map(|p| p[0]).collect::<Vec<_>>(), [0, 15, 25, 35]);
    }

    #[test]
    fn people_are_blurred_where_the_camera_saw_them_before_undistorting() {
        let original = checkerboard(64, 48);
        let map = shifted_right((64, 48), 20.0);
        let mut hidden = Hidden::everything(64, 48);
        hidden.mask.hidden.fill(false);
        hidden.boxes.push([10.0, 10.0, 10.0, 20.0]);
        let moved = served(&original, &hidden, false, Some(&map));
        // The box (margin included, x 8..22) moved 20 px right: flat there, detail beside it.
        let flat = |x: usize| at(&moved, x, 20) == at(&moved, x + 1, 20);
        assert!(flat(30) && flat(33), "the box was not blurred where it went");
        assert!(!flat(24) && !flat(44), "detail lost beside the box");
        let clear = served(&original, &hidden, true, None);
        assert_eq!(clear.rgb, original.rgb, "unblurred and not undistorted: the picture as it was");
    }

    #[test]
    fn an_undistortion_map_is_made_once_per_camera_lens_and_size() {
        let maps = UndistortionMaps::default();
        let lens =
            Lens { size: (64, 48), focal: (50.0, 50.0), centre: (32.0, 24.0), distortion: [-0.2, 0.05, 0.0, 0.0, 0.0] };
        let first = maps.for_camera(0, lens, (64, 48));
        assert_eq!(first.sources.len(), 64 * 48);
        assert!(Arc::ptr_eq(&first, &maps.for_camera(0, lens, (64, 48))), "made again for the same picture");
        let other_camera = maps.for_camera(1, lens, (64, 48));
        assert!(!Arc::ptr_eq(&first, &other_camera));
        assert!(Arc::ptr_eq(&first, &maps.for_camera(0, lens, (64, 48))), "another camera's map replaced it");
        let smaller = maps.for_camera(0, lens, (32, 24));
        assert_eq!(smaller.sources.len(), 32 * 24, "not made again for a new size");
        let other_lens = Lens { distortion: [0.0; 5], ..lens };
        assert!(!Arc::ptr_eq(&smaller, &maps.for_camera(0, other_lens, (32, 24))), "not made again for a new lens");
    }

    #[test]
    fn a_picture_is_encoded_as_a_jpeg() {
        let jpeg = encode_jpeg(&checkerboard(32, 16)).unwrap();
        assert_eq!(jpeg[..2], [0xFF, 0xD8]);
        assert_eq!(jpeg[jpeg.len() - 2..], [0xFF, 0xD9]);
        let empty = Picture { width: 0, height: 0, rgb: Vec::new() };
        assert!(matches!(encode_jpeg(&empty), Err(SetupError::Encoding(_))));
    }

    #[test]
    fn people_are_unblurred_for_a_while_after_asking_on_that_camera_only() {
        let windows = UnblurWindows::default();
        let now = Instant::now();
        assert_eq!(windows.left(0, now), Duration::ZERO);
        windows.open(0, now);
        assert_eq!(windows.left(0, now), UNBLUR_FOR);
        assert_eq!(windows.left(0, now + Duration::from_secs(10)), UNBLUR_FOR - Duration::from_secs(10));
        assert_eq!(windows.left(0, now + UNBLUR_FOR + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(windows.left(1, now), Duration::ZERO, "another camera");
    }
}
