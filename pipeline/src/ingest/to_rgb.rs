//! Decoded planar frames (I420) to packed RGB, in Rust.
//!
//! GStreamer's `videoconvert` took 0.69 ms a 768×576 frame on the 2-core box, more than decoding
//! the H.264 (0.43 ms) and 13% of a 32-camera node's time. The pipeline now hands the decoder's
//! I420 to Rust, and this converts it to the same bytes `videoconvert` gave (its fast path's
//! integer arithmetic: each chroma sample for 2×2 pixels, each term a 16-bit multiply-high, the
//! sum saturated), in 0.13 ms with AVX2 (`benches/README.md`, "Colour conversion in Rust").
//! The very same picture matters: the low-light curve and the detector's thresholds were measured
//! on it, and a textbook conversion (2-4 levels brighter) counted the dark colour copies of
//! `benches/degraded` twice as badly.
//!
//! The matrix and range are the ones the stream declares, unless the stream shows that its range
//! is not the one it declares ([`RangeCheck`]).

use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use gstreamer_video::{VideoColorMatrix, VideoColorRange, VideoFormat};

/// The share of a frame's luma below video black (16) from which a stream that says video range
/// is read as full range: clipped, such a picture is mostly black, and nobody can be counted on
/// it. Measured (`benches/README.md`, "Pictures below black"): the re-encoded clip puts at most
/// 1.9% of a frame there (ringing at dark edges), the degraded night copies 5% (colour night), 9%
/// (night), 31-33% (dusk) and 53-58% (the darker night, 155 of 155 crossings missed when
/// clipped, 84 when read as full range). Read as full range, the copies in between counted worse
/// with today's low-light settings (dusk 14.3 → 17.3 line errors, night 18.3 → 21.7), so only a
/// picture that would be mostly black is rescued.
const BELOW_BLACK_SHARE: f64 = 0.4;
/// Frames over that share before the stream is read as full range: one frame is not a stream.
const BELOW_BLACK_FRAMES: u32 = 3;

/// Whether a stream that declares video range (16–235) is really in full range (0–255): cameras
/// that encode the sensor's full range and say video range put the dark part of a night picture
/// below 16, which a decoder that follows the declared range clips to black, people and all.
/// Once a stream has shown that on a few frames, the rest of it is read as full range.
#[derive(Debug, Default)]
pub(crate) struct RangeCheck {
    frames_below_black: u32,
    /// The share of the luma below 16 on the frame that decided, when one did.
    decided: Option<f64>,
}

impl RangeCheck {
    /// The share of luma samples below 16 on which the stream was found to be in full range, or
    /// `None` while it is read as it says.
    pub(crate) fn full_range_from(&self) -> Option<f64> {
        self.decided
    }

    /// Looks at a frame's luma plane (one sample in 16); returns true when this frame decided
    /// that the stream is in full range.
    fn observe(&mut self, luma: &[u8], stride: usize, width: usize, height: usize) -> bool {
        if self.decided.is_some() {
            return false;
        }
        let (mut below, mut n) = (0u32, 0u32);
        for row in luma.chunks(stride).take(height).step_by(4) {
            for &y in row[..width.min(row.len())].iter().step_by(4) {
                below += u32::from(y < 16);
                n += 1;
            }
        }
        let share = if n == 0 { 0.0 } else { f64::from(below) / f64::from(n) };
        if share >= BELOW_BLACK_SHARE {
            self.frames_below_black += 1;
            if self.frames_below_black >= BELOW_BLACK_FRAMES {
                self.decided = Some(share);
                return true;
            }
        }
        false
    }
}

/// One stream's conversion: what it learned of the stream's range, and the RGB buffers it
/// fills (a pool, as `videoconvert` had: a fresh 1.3 MB buffer a frame cost 0.06 ms more in
/// page faults).
#[derive(Default)]
pub(crate) struct ToRgb {
    pub(crate) range_check: RangeCheck,
    /// The pool and the buffer size it was made for.
    pool: Option<(usize, gst::BufferPool)>,
}

impl ToRgb {
    /// Converts an I420 `buffer` described by `info` to a packed RGB buffer of the same size
    /// (rows padded to 4 bytes, as GStreamer lays out RGB), with the same timestamps, in the range
    /// the stream declares or the one [`RangeCheck`] found. `uri` (redacted) names the stream in
    /// the log. The error says why.
    pub(crate) fn convert(
        &mut self,
        buffer: &gst::BufferRef,
        info: &gst_video::VideoInfo,
        uri: &str,
    ) -> Result<(gst::Buffer, gst_video::VideoInfo), String> {
        if info.format() != VideoFormat::I420 {
            return Err(format!("frames in {:?}, not I420", info.format()));
        }
        let (width, height) = (info.width() as usize, info.height() as usize);
        let rgb_info = gst_video::VideoInfo::builder(VideoFormat::Rgb, width as u32, height as u32)
            .build()
            .map_err(|e| format!("no RGB layout for {width}×{height}: {e}"))?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|_| "could not map a decoded frame for reading".to_string())?;
        let strides: Vec<usize> = frame.plane_stride().iter().map(|&s| s.max(0) as usize).collect();
        let plane = |i: u32| frame.plane_data(i).map_err(|e| format!("plane {i}: {e}"));
        let planes = Planes { y: plane(0)?, u: plane(1)?, v: plane(2)?, strides: [strides[0], strides[1], strides[2]] };
        if !planes.fit(width, height) {
            return Err(format!("a {width}×{height} I420 frame with planes too small for it"));
        }
        let colorimetry = info.colorimetry();
        let mut full_range = colorimetry.range() == VideoColorRange::Range0_255;
        if !full_range {
            if self.range_check.observe(planes.y, planes.strides[0], width, height) {
                let share = self.range_check.full_range_from().unwrap_or_default();
                tracing::warn!(
                    "{uri}: {:.0}% of the picture is below black (luma under 16 in a stream that says 16-235): \
                     read as full range (0-255) from now on, so its dark part is seen; the camera's video range \
                     setting is wrong, and other viewers may show that part black",
                    share * 100.0
                );
            }
            full_range = self.range_check.full_range_from().is_some();
        }
        let matrix = Matrix::new(colorimetry.matrix(), full_range);
        let stride = rgb_info.stride()[0] as usize;
        let mut out = self.buffer(stride * height)?;
        {
            let out = out.get_mut().ok_or("a pooled buffer shared elsewhere")?;
            out.set_pts(buffer.pts());
            out.set_dts(buffer.dts());
            out.set_duration(buffer.duration());
            let mut map = out.map_writable().map_err(|_| "could not map an RGB buffer for writing".to_string())?;
            convert(&planes, width, height, &matrix, map.as_mut_slice(), stride);
        }
        Ok((out, rgb_info))
    }

    /// A buffer of `size` bytes from the pool (made anew when the size changed).
    fn buffer(&mut self, size: usize) -> Result<gst::Buffer, String> {
        if self.pool.as_ref().is_none_or(|(made_for, _)| *made_for != size) {
            if let Some((_, old)) = self.pool.take() {
                let _ = old.set_active(false);
            }
            let pool = gst::BufferPool::new();
            let mut config = pool.config();
            config.set_params(None, u32::try_from(size).map_err(|_| format!("a frame of {size} bytes"))?, 0, 0);
            pool.set_config(config).map_err(|e| format!("RGB buffer pool: {e}"))?;
            pool.set_active(true).map_err(|e| format!("RGB buffer pool: {e}"))?;
            self.pool = Some((size, pool));
        }
        let (_, pool) = self.pool.as_ref().ok_or("no RGB buffer pool")?;
        pool.acquire_buffer(None).map_err(|e| format!("RGB buffer pool: {e:?}"))
    }
}

impl Drop for ToRgb {
    fn drop(&mut self) {
        if let Some((_, pool)) = self.pool.take() {
            let _ = pool.set_active(false);
        }
    }
}

/// The three planes of an I420 frame and their row strides.
struct Planes<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    strides: [usize; 3],
}

impl Planes<'_> {
    fn fit(&self, width: usize, height: usize) -> bool {
        let (chroma_width, chroma_height) = (width.div_ceil(2), height.div_ceil(2));
        let fits = |plane: &[u8], stride: usize, w: usize, h: usize| {
            h == 0 || (stride >= w && plane.len() >= (h - 1) * stride + w)
        };
        fits(self.y, self.strides[0], width, height)
            && fits(self.u, self.strides[1], chroma_width, chroma_height)
            && fits(self.v, self.strides[2], chroma_width, chroma_height)
    }
}

/// Y'CbCr to RGB in 8.8 fixed point, as GStreamer rounds it (BT.601 video range: 298, 409, -100,
/// -208, 516): `y` scales luma, `rv` V into red, `gu` and `gv` U and V into green, `bu` U into blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Matrix {
    y: i16,
    rv: i16,
    gu: i16,
    gv: i16,
    bu: i16,
}

impl Matrix {
    /// The matrix for `matrix` (undeclared or unusual: BT.601, the SD default) in video range
    /// (luma 16-235, chroma 16-240) or full range.
    fn new(matrix: VideoColorMatrix, full_range: bool) -> Self {
        let (kr, kb) = match matrix {
            VideoColorMatrix::Bt709 => (0.2126, 0.0722),
            VideoColorMatrix::Bt2020 => (0.2627, 0.0593),
            VideoColorMatrix::Smpte240m => (0.212, 0.087),
            _ => (0.299, 0.114),
        };
        let kg = 1.0 - kr - kb;
        let (luma, chroma) = if full_range { (1.0, 1.0) } else { (255.0 / 219.0, 255.0 / 224.0) };
        let fixed = |c: f64| (c * 256.0).round() as i16;
        Self {
            y: fixed(luma),
            rv: fixed(2.0 * (1.0 - kr) * chroma),
            gu: fixed(-2.0 * (1.0 - kb) * kb / kg * chroma),
            gv: fixed(-2.0 * (1.0 - kr) * kr / kg * chroma),
            bu: fixed(2.0 * (1.0 - kb) * chroma),
        }
    }
}

/// One term: the byte moved to -128..127, spread over 16 bits (`b << 8 | b`), times the
/// coefficient, the high 16 bits kept (rounded down).
#[inline(always)]
fn term(byte: u8, coefficient: i16) -> i16 {
    let b = byte ^ 0x80;
    ((i32::from(i16::from_be_bytes([b, b])) * i32::from(coefficient)) >> 16) as i16
}

/// A channel from its summed terms: saturated to -128..127, moved back to 0..255.
#[inline(always)]
fn channel(sum: i16) -> u8 {
    (sum.clamp(-128, 127) as i8 as u8) ^ 0x80
}

fn convert(planes: &Planes<'_>, width: usize, height: usize, matrix: &Matrix, out: &mut [u8], stride: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just now.
        unsafe { convert_avx2(planes, width, height, matrix, out, stride) };
        return;
    }
    convert_rows(planes, width, height, matrix, out, stride);
}

/// The same loops, compiled for AVX2: 5× faster than without (0.13 against 0.67 ms a 768×576
/// frame), where the stride-3 stores of RGB keep the baseline's SSE2 from vectorising.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn convert_avx2(
    planes: &Planes<'_>,
    width: usize,
    height: usize,
    matrix: &Matrix,
    out: &mut [u8],
    stride: usize,
) {
    convert_rows(planes, width, height, matrix, out, stride);
}

/// Row by row, in plain loops the compiler vectorises: the chroma terms of a row pair spread to
/// the pixels they cover, then each channel of a row, then the channels interleaved.
#[inline(always)]
fn convert_rows(planes: &Planes<'_>, width: usize, height: usize, m: &Matrix, out: &mut [u8], stride: usize) {
    let chroma_width = width.div_ceil(2);
    // Each chroma term twice (the two pixels it covers), one more for an odd width.
    let (mut red_v, mut green_uv, mut blue_u) =
        (vec![0i16; chroma_width * 2], vec![0i16; chroma_width * 2], vec![0i16; chroma_width * 2]);
    let (mut red, mut green, mut blue) = (vec![0u8; width], vec![0u8; width], vec![0u8; width]);
    for row in 0..height {
        if row % 2 == 0 {
            let at = (row / 2) * planes.strides[1];
            let u = &planes.u[at..at + chroma_width];
            let at = (row / 2) * planes.strides[2];
            let v = &planes.v[at..at + chroma_width];
            let spread = red_v.chunks_exact_mut(2).zip(green_uv.chunks_exact_mut(2)).zip(blue_u.chunks_exact_mut(2));
            for (((r, g), b), (&u, &v)) in spread.zip(u.iter().zip(v)) {
                let (rv, guv, bu) = (term(v, m.rv), term(u, m.gu).wrapping_add(term(v, m.gv)), term(u, m.bu));
                (r[0], r[1], g[0], g[1], b[0], b[1]) = (rv, rv, guv, guv, bu, bu);
            }
        }
        let at = row * planes.strides[0];
        let luma = &planes.y[at..at + width];
        let channels = red.iter_mut().zip(green.iter_mut()).zip(blue.iter_mut());
        let chroma = red_v.iter().zip(&green_uv).zip(&blue_u);
        for (((r, g), b), (&y, ((&rv, &guv), &bu))) in channels.zip(luma.iter().zip(chroma)) {
            let y = term(y, m.y);
            (*r, *g, *b) = (channel(y.wrapping_add(rv)), channel(y.wrapping_add(guv)), channel(y.wrapping_add(bu)));
        }
        let pixels = out[row * stride..row * stride + width * 3].chunks_exact_mut(3);
        for (pixel, ((&r, &g), &b)) in pixels.zip(red.iter().zip(&green).zip(&blue)) {
            (pixel[0], pixel[1], pixel[2]) = (r, g, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrices_are_gstreamers_in_8_8_fixed_point() {
        // GStreamer 1.26's debug log of videoconvert, I420 to RGB: [298 0 409], [298 -100 -208], [298 516 0].
        let bt601 = Matrix::new(VideoColorMatrix::Bt601, false);
        assert_eq!(bt601, Matrix { y: 298, rv: 409, gu: -100, gv: -208, bu: 516 });
        let full = Matrix::new(VideoColorMatrix::Bt601, true);
        assert_eq!((full.y, full.rv, full.bu), (256, 359, 454));
        let bt709 = Matrix::new(VideoColorMatrix::Bt709, false);
        assert_eq!((bt709.rv, bt709.gu, bt709.gv, bt709.bu), (459, -55, -136, 541));
    }

    #[test]
    fn black_white_and_grey_land_where_videoconvert_puts_them() {
        let m = Matrix::new(VideoColorMatrix::Bt601, false);
        let grey = |y: u8| channel(term(y, m.y).wrapping_add(term(128, m.rv)));
        // Video black and below it are 0, white is 253 (the fast path's scale), mid-grey 128.
        assert_eq!((grey(16), grey(0), grey(128), grey(235), grey(255)), (0, 0, 128, 253, 255));
    }

    /// A 64×64 luma plane with `below` of its columns at 10, the rest at 60, its rows padded to
    /// 72 bytes with 10s (padding is not picture: counted, it would tip dusk over the share).
    fn luma_plane(below: usize) -> Vec<u8> {
        (0..64).flat_map(|_| (0..72).map(move |x| if x < below || x >= 64 { 10 } else { 60 })).collect()
    }

    #[test]
    fn a_stream_mostly_below_black_is_read_as_full_range_after_three_frames_and_stays() {
        let mut check = RangeCheck::default();
        let mostly_black = luma_plane(32);
        assert!(!check.observe(&mostly_black, 72, 64, 64));
        assert!(!check.observe(&luma_plane(0), 72, 64, 64), "a frame above black does not decide");
        assert!(!check.observe(&mostly_black, 72, 64, 64));
        assert!(check.observe(&mostly_black, 72, 64, 64), "the third frame below black decides");
        assert_eq!(check.full_range_from(), Some(0.5));
        // Decided once for the stream: a bright frame later changes nothing.
        assert!(!check.observe(&luma_plane(0), 72, 64, 64));
        assert_eq!(check.full_range_from(), Some(0.5));
        // Dusk's share (a third below 16) never decides; the row padding is not counted.
        let mut dusk = RangeCheck::default();
        for _ in 0..10 {
            assert!(!dusk.observe(&luma_plane(21), 72, 64, 64));
        }
        assert_eq!(dusk.full_range_from(), None);
    }

    #[test]
    fn every_pixel_of_an_odd_sized_frame_is_converted_alike() {
        // 3×3 pixels: chroma 2×2; every pixel of one chroma sample gets the same chroma terms.
        let y = [16, 128, 235, 16, 128, 235, 16, 128, 235];
        let (u, v) = ([128, 90, 128, 90], [128, 200, 128, 200]);
        let planes = Planes { y: &y, u: &u, v: &v, strides: [3, 2, 2] };
        assert!(planes.fit(3, 3));
        let mut out = vec![0u8; 12 * 3];
        convert_rows(&planes, 3, 3, &Matrix::new(VideoColorMatrix::Bt601, false), &mut out, 12);
        // Row 0, pixel 1 (grey chroma) against row 2, pixel 1: same luma, same chroma.
        assert_eq!(&out[3..6], &out[24 + 3..24 + 6]);
        assert_eq!(&out[3..6], &[128, 128, 128]);
        // Pixel 2 takes the second chroma sample: reddish.
        assert!(out[6] > out[8], "{:?}", &out[6..9]);
        assert!(!Planes { y: &y[..8], u: &u, v: &v, strides: [3, 2, 2] }.fit(3, 3));
    }
}
