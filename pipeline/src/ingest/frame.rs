//! The plain-data type that ingest hands to the detector.

use std::time::Duration;

use gstreamer_video::prelude::*;

/// One decoded, scaled RGB frame in a GStreamer buffer (no copy on the way to the detector).
pub struct Frame {
    /// 0-based index of the frame in the source (from its timestamp when the source has a frame rate).
    pub index: u64,
    /// Presentation timestamp from the start of the stream.
    pub pts: Option<Duration>,
    /// Size of the decoded picture before scaling: the coordinate system of detections and zones.
    pub source_width: u32,
    pub source_height: u32,
    pub(crate) buffer: gstreamer::Buffer,
    pub(crate) info: gstreamer_video::VideoInfo,
}

/// A mapped, readable view of a frame's packed RGB pixels, or of a rectangle of them
/// ([`RgbView::crop`]).
pub struct RgbView<'a> {
    frame: gstreamer_video::VideoFrameRef<&'a gstreamer::BufferRef>,
    /// The rectangle viewed, in the frame's pixels: left, top, width, height.
    window: (usize, usize, usize, usize),
}

impl Frame {
    /// A frame from packed RGB bytes (rows `width * 3` bytes, no padding) that did not come through
    /// a GStreamer pipeline: pre-decoded frames in benchmarks and tests.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>, index: u64) -> Result<Self, FrameError> {
        gstreamer::init().map_err(|e| FrameError::Invalid(e.to_string()))?;
        let info = gstreamer_video::VideoInfo::builder(gstreamer_video::VideoFormat::Rgb, width, height)
            .build()
            .map_err(|e| FrameError::Invalid(e.to_string()))?;
        let packed = width as usize * height as usize * 3;
        if rgb.len() != packed {
            return Err(FrameError::Invalid(format!("{} bytes for a {width}×{height} RGB frame", rgb.len())));
        }
        // GStreamer pads RGB rows to 4 bytes; repack when the width needs it.
        let stride = info.stride()[0] as usize;
        let data = if stride == width as usize * 3 {
            rgb
        } else {
            let mut padded = vec![0; stride * height as usize];
            for (row, dst) in rgb.chunks_exact(width as usize * 3).zip(padded.chunks_exact_mut(stride)) {
                dst[..row.len()].copy_from_slice(row);
            }
            padded
        };
        Ok(Self {
            index,
            pts: None,
            source_width: width,
            source_height: height,
            buffer: gstreamer::Buffer::from_mut_slice(data),
            info,
        })
    }

    /// Width of the RGB data (the analysis size).
    pub fn width(&self) -> u32 {
        self.info.width()
    }

    pub fn height(&self) -> u32 {
        self.info.height()
    }

    /// Maps the buffer for reading.
    pub fn rgb(&self) -> Result<RgbView<'_>, MapError> {
        gstreamer_video::VideoFrameRef::from_buffer_ref_readable(self.buffer.as_ref(), &self.info)
            .map(|frame| {
                let window = (0, 0, frame.width() as usize, frame.height() as usize);
                RgbView { frame, window }
            })
            .map_err(|_| MapError)
    }
}

impl<'a> RgbView<'a> {
    /// The pixel rows, `stride` bytes apart (GStreamer pads rows to 4 bytes), from the view's
    /// top-left pixel on.
    pub fn data(&self) -> &[u8] {
        // Plane 0 of a packed RGB frame always exists.
        let plane = self.frame.plane_data(0).unwrap_or(&[]);
        let (left, top, _, _) = self.window;
        plane.get(top * self.stride() + left * 3..).unwrap_or(&[])
    }

    pub fn stride(&self) -> usize {
        self.frame.plane_stride()[0] as usize
    }

    pub fn width(&self) -> usize {
        self.window.2
    }

    pub fn height(&self) -> usize {
        self.window.3
    }

    /// The rectangle `width` × `height` at (`left`, `top`) of this view, without a copy; `None`
    /// when it does not lie inside.
    pub fn crop(self, left: usize, top: usize, width: usize, height: usize) -> Option<RgbView<'a>> {
        let (x, y, w, h) = self.window;
        if left + width > w || top + height > h {
            return None;
        }
        Some(RgbView { frame: self.frame, window: (x + left, y + top, width, height) })
    }
}

impl RgbView<'_> {
    /// The picture in grey (luma, BT.601 weights), row by row without padding: what OpenCV's
    /// checkerboard search takes.
    pub fn to_grey(&self) -> Vec<u8> {
        let (width, height, stride, data) = (self.width(), self.height(), self.stride(), self.data());
        let mut grey = Vec::with_capacity(width * height);
        for row in data.chunks(stride).take(height) {
            grey.extend(row[..(width * 3).min(row.len())].chunks_exact(3).map(luma));
        }
        grey
    }

    /// Standard deviation of the luma (0..255, BT.601 weights) over the central half of the
    /// picture, measured on the means of 4×4-pixel blocks (every block across, every other row of
    /// blocks): near zero when the picture is uniform (a covered lens, a camera facing a wall).
    /// The blocks average sensor noise out and keep the scene: a uniform picture with noise of 8
    /// levels measures 1.8 (7.2 pixel by pixel), a dark colour camera at night 3.4–3.7 (its
    /// people and paving a few levels apart). The centre keeps letterbox bars out of the measure.
    pub fn luma_spread(&self) -> f64 {
        let (width, height, stride, data) = (self.width(), self.height(), self.stride(), self.data());
        let (x0, x1) = (width / 4, width - width / 4);
        let (y0, y1) = (height / 4, height - height / 4);
        let (mut n, mut sum, mut sum_sq) = (0.0f64, 0.0f64, 0.0f64);
        for top in (y0..y1.saturating_sub(3)).step_by(8) {
            for left in (x0..x1.saturating_sub(3)).step_by(4) {
                let (mut block, mut pixels) = (0u32, 0u32);
                for y in top..top + 4 {
                    let Some(row) = data.get(y * stride + left * 3..y * stride + (left + 4) * 3) else { continue };
                    for p in row.chunks_exact(3) {
                        block += 77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]);
                        pixels += 1;
                    }
                }
                if pixels == 0 {
                    continue;
                }
                let luma = f64::from(block) / f64::from(pixels * 256);
                n += 1.0;
                sum += luma;
                sum_sq += luma * luma;
            }
        }
        if n == 0.0 {
            return 0.0;
        }
        let mean = sum / n;
        (sum_sq / n - mean * mean).max(0.0).sqrt()
    }

    /// The share (0..1) of the centre half of the picture that is black (luma 2 or less; one
    /// pixel in 16 is read). A covered lens gives most of a picture, and so does a camera that
    /// sends its picture below black: luma under 16 in a stream that says it uses 16–235, which
    /// decoding turns to black (README, "Which way the street runs"); a night picture that
    /// Lintel can count on is not black.
    pub fn black_share(&self) -> f64 {
        let (width, height, stride, data) = (self.width(), self.height(), self.stride(), self.data());
        let (mut black, mut n) = (0u32, 0u32);
        for y in (height / 4..height - height / 4).step_by(4) {
            for x in (width / 4..width - width / 4).step_by(4) {
                let Some(p) = data.get(y * stride + x * 3..y * stride + x * 3 + 3) else { continue };
                let luma = 77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]);
                black += u32::from(luma <= 2 * 256);
                n += 1;
            }
        }
        if n == 0 { 0.0 } else { f64::from(black) / f64::from(n) }
    }
}

/// The frame's buffer could not be mapped for reading.
#[derive(Debug, thiserror::Error)]
#[error("could not map a video frame for reading")]
pub struct MapError;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("invalid frame: {0}")]
    Invalid(String),
}

/// The luma of one RGB pixel (BT.601 weights, rounded), 0..255.
pub fn luma(rgb: &[u8]) -> u8 {
    ((77 * u32::from(rgb[0]) + 150 * u32::from(rgb[1]) + 29 * u32::from(rgb[2]) + 128) >> 8) as u8
}

#[cfg(test)]
mod luma_tests {
    use super::*;

    #[test]
    fn a_crop_is_the_rectangle_its_rows_a_stride_apart() {
        // 5×4 pixels (rows padded to 16 bytes); pixel (x, y) holds x + 10·y in every channel.
        let rgb: Vec<u8> = (0..4).flat_map(|y| (0..5).flat_map(move |x| [x + 10 * y; 3])).collect();
        let frame = Frame::from_rgb(5, 4, rgb, 0).unwrap();
        let crop = frame.rgb().unwrap().crop(1, 2, 3, 2).unwrap();
        assert_eq!((crop.width(), crop.height()), (3, 2));
        assert_eq!(crop.to_grey(), [21, 22, 23, 31, 32, 33]);
        // A crop of a crop is still in the frame's pixels.
        assert_eq!(crop.crop(2, 1, 1, 1).unwrap().to_grey(), [33]);
        assert!(frame.rgb().unwrap().crop(3, 0, 3, 1).is_none());
    }

    #[test]
    fn grey_drops_the_row_padding_and_weighs_green_most() {
        // 3 pixels of 3 bytes: rows padded to 12 bytes by GStreamer.
        let rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255].repeat(2);
        let frame = Frame::from_rgb(3, 2, rgb, 0).unwrap();
        let grey = frame.rgb().unwrap().to_grey();
        assert_eq!(grey, [77, 149, 29, 77, 149, 29]);
    }

    #[test]
    fn a_uniform_picture_has_no_spread_and_a_scene_has_some() {
        let (w, h) = (64u32, 48u32);
        let uniform = Frame::from_rgb(w, h, vec![90; (w * h * 3) as usize], 0).unwrap();
        assert!(uniform.rgb().unwrap().luma_spread() < 0.5);
        // Black bars around a uniform grey centre: the bars must not count.
        let mut letterboxed = vec![0u8; (w * h * 3) as usize];
        for y in 8..40 {
            for x in 0..w as usize {
                letterboxed[(y * w as usize + x) * 3..][..3].copy_from_slice(&[200, 200, 200]);
            }
        }
        let letterboxed = Frame::from_rgb(w, h, letterboxed, 0).unwrap();
        assert!(letterboxed.rgb().unwrap().luma_spread() < 0.5);
        let stripes: Vec<u8> = (0..w * h).flat_map(|i| if (i % w) / 4 % 2 == 0 { [20; 3] } else { [220; 3] }).collect();
        let scene = Frame::from_rgb(w, h, stripes, 0).unwrap();
        assert!(scene.rgb().unwrap().luma_spread() > 50.0);
    }

    /// Pseudo-random noise of about ±`amplitude` levels around `level`, pixel by pixel.
    fn noisy(w: u32, h: u32, level: impl Fn(u32) -> i32, amplitude: i32) -> Frame {
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let noise = ((i.wrapping_mul(2_654_435_761) >> 20) % (2 * amplitude as u32 + 1)) as i32 - amplitude;
                [(level(i % w) + noise).clamp(0, 255) as u8; 3]
            })
            .collect();
        Frame::from_rgb(w, h, rgb, 0).unwrap()
    }

    #[test]
    fn sensor_noise_on_a_uniform_picture_is_not_spread_and_a_dark_scene_is() {
        let (w, h) = (256u32, 192u32);
        // A covered lens at night: level 10, noise of ±14 levels (a standard deviation of 8).
        let covered = noisy(w, h, |_| 10, 14);
        let spread = covered.rgb().unwrap().luma_spread();
        assert!(spread < 2.5, "covered lens with noise: {spread}");
        // A dark scene: paving at 6 and 14 levels in bands 16 pixels wide, noise of ±3.
        let dark = noisy(w, h, |x| if x / 16 % 2 == 0 { 6 } else { 14 }, 3);
        let spread = dark.rgb().unwrap().luma_spread();
        assert!(spread > 3.5, "dark scene: {spread}");
    }

    #[test]
    fn a_picture_clipped_to_black_is_black_and_a_dark_scene_is_not() {
        let (w, h) = (256u32, 192u32);
        // Below black, decoded: most levels clipped to 0, a few people's levels above.
        let clipped = noisy(w, h, |x| if x % 64 < 8 { 12 } else { 0 }, 0);
        let share = clipped.rgb().unwrap().black_share();
        assert!((share - 0.875).abs() < 0.01, "clipped: {share}");
        // A dark night scene that can be counted: levels 6 and 14 with noise, none black.
        let dark = noisy(w, h, |x| if x / 16 % 2 == 0 { 6 } else { 14 }, 3);
        assert_eq!(dark.rgb().unwrap().black_share(), 0.0);
        // Black bars of a letterbox lie outside the centre that is measured.
        let letterboxed = noisy(w, h, |x| if x < w / 4 || x >= w - w / 4 { 0 } else { 90 }, 0);
        assert_eq!(letterboxed.rgb().unwrap().black_share(), 0.0);
    }
}
