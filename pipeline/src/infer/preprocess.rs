//! Pre-processing: one pass from the mapped GStreamer frame into the model's input tensor.

use crate::ingest::RgbView;

use super::low_light::ToneCurve;
use super::manifest::{InputDtype, InputLayout, ModelSpec};

/// How model-input pixels map back to frame pixels (scale, then centred padding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Letterbox {
    /// The mapping GStreamer's `videoscale` applies to bring `source` to `input`.
    pub fn new(source: (u32, u32), input: (u32, u32), keep_aspect: bool) -> Self {
        let (sw, sh) = (source.0 as f32, source.1 as f32);
        let (iw, ih) = (input.0 as f32, input.1 as f32);
        if !keep_aspect {
            return Self { scale_x: iw / sw, scale_y: ih / sh, pad_x: 0.0, pad_y: 0.0 };
        }
        let scale = (iw / sw).min(ih / sh);
        let pad_x = ((iw - (sw * scale).round()) / 2.0).floor();
        let pad_y = ((ih - (sh * scale).round()) / 2.0).floor();
        Self { scale_x: scale, scale_y: scale, pad_x, pad_y }
    }

    /// A frame point in model-input pixels.
    pub fn to_input(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.scale_x + self.pad_x, y * self.scale_y + self.pad_y)
    }

    /// A model-input point in frame pixels.
    pub fn to_source(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.pad_x) / self.scale_x, (y - self.pad_y) / self.scale_y)
    }
}

/// The input tensor's storage, allocated once per detector and refilled for every frame.
/// `packed` holds a frame through the low-light curve on its way into a layout the curve does not
/// write itself, kept so that a dark camera does not allocate a frame's worth every frame.
pub enum InputBuffer {
    Bytes { data: Vec<u8>, layout: InputLayout, packed: Vec<u8> },
    Floats { data: Vec<f32>, lut: Box<[[f32; 256]; 3]>, layout: InputLayout, packed: Vec<u8> },
}

impl InputBuffer {
    /// Storage for `spec`'s input, with its normalisation tables.
    pub fn new(spec: &ModelSpec) -> Self {
        let len = spec.input_width as usize * spec.input_height as usize * 3;
        match spec.input_dtype {
            InputDtype::Uint8 => Self::Bytes { data: vec![0; len], layout: spec.input_layout, packed: Vec::new() },
            InputDtype::Float32 => {
                // A table per channel turns normalisation into one lookup per byte.
                let mut lut = Box::new([[0.0; 256]; 3]);
                for (c, table) in lut.iter_mut().enumerate() {
                    for (v, slot) in table.iter_mut().enumerate() {
                        *slot = (v as f32 / 255.0 - spec.mean[c]) / spec.std[c];
                    }
                }
                Self::Floats { data: vec![0.0; len], lut, layout: spec.input_layout, packed: Vec::new() }
            }
        }
    }

    /// Copies a frame of exactly the input size into the tensor, honouring the row stride.
    pub fn fill(&mut self, frame: &RgbView<'_>) {
        self.fill_slot(0, frame);
    }

    /// Frames the buffer holds (the batch size of the tensor it backs).
    pub fn slots(&self, spec: &ModelSpec) -> usize {
        let per_frame = spec.input_width as usize * spec.input_height as usize * 3;
        match self {
            Self::Bytes { data, .. } => data.len() / per_frame,
            Self::Floats { data, .. } => data.len() / per_frame,
        }
    }

    /// Makes room for `slots` frames, one after the other (a batch of `slots`).
    pub fn set_slots(&mut self, spec: &ModelSpec, slots: usize) {
        let len = spec.input_width as usize * spec.input_height as usize * 3 * slots.max(1);
        match self {
            Self::Bytes { data, .. } => data.resize(len, 0),
            Self::Floats { data, .. } => data.resize(len, 0.0),
        }
    }

    /// Copies a frame of exactly the input size into batch slot `slot` (see [`set_slots`](Self::set_slots)).
    ///
    /// # Panics
    /// When `slot` is not below the number of slots.
    pub fn fill_slot(&mut self, slot: usize, frame: &RgbView<'_>) {
        self.fill_slot_toned(slot, frame, None);
    }

    /// Like [`fill_slot`](Self::fill_slot), each pixel through `tone` on the way (a dark
    /// camera's curve, [`ToneCurve`]): the same single pass, a table lookup more per byte.
    ///
    /// # Panics
    /// When `slot` is not below the number of slots.
    pub fn fill_slot_toned(&mut self, slot: usize, frame: &RgbView<'_>, tone: Option<&ToneCurve>) {
        let (width, height, stride) = (frame.width(), frame.height(), frame.stride());
        let per_frame = width * height * 3;
        match (tone, &mut *self) {
            (None, _) => {
                let data = frame.data();
                self.fill_rows(slot, width, height, (0..height).map(|y| &data[y * stride..y * stride + width * 3]));
            }
            // The curve and its blur write a packed uint8 input directly.
            (Some(tone), Self::Bytes { data: out, layout: InputLayout::Nhwc, .. }) => {
                tone.render(frame, &mut out[slot * per_frame..(slot + 1) * per_frame])
            }
            (Some(tone), Self::Bytes { packed, .. } | Self::Floats { packed, .. }) => {
                let mut packed = std::mem::take(packed);
                packed.resize(per_frame, 0);
                tone.render(frame, &mut packed);
                self.fill_rows(slot, width, height, packed.chunks_exact(width * 3));
                let (Self::Bytes { packed: kept, .. } | Self::Floats { packed: kept, .. }) = self;
                *kept = packed;
            }
        }
    }

    /// Mirrors slot `slot` (filled with a `width`×`height` frame) left to right, in place: the
    /// detector then sees the picture as a camera on the other side of the street would.
    pub fn mirror_slot(&mut self, slot: usize, width: usize, height: usize) {
        let per_frame = width * height * 3;
        let range = slot * per_frame..(slot + 1) * per_frame;
        match self {
            Self::Bytes { data, layout, .. } => mirror_layout(&mut data[range], *layout, width),
            Self::Floats { data, layout, .. } => mirror_layout(&mut data[range], *layout, width),
        }
    }

    /// Fills slot `slot` from `height` packed RGB rows of `width` pixels.
    fn fill_rows<'a>(&mut self, slot: usize, width: usize, height: usize, rows: impl Iterator<Item = &'a [u8]>) {
        let per_frame = width * height * 3;
        let range = slot * per_frame..(slot + 1) * per_frame;
        match self {
            // uint8 NHWC RGB is exactly GStreamer's packed RGB without the row padding.
            Self::Bytes { data: out, layout: InputLayout::Nhwc, .. } => {
                let out = &mut out[range];
                for (row, dst) in rows.zip(out.chunks_exact_mut(width * 3)) {
                    dst.copy_from_slice(row);
                }
            }
            // Two 6-byte copies a block: 2.3× faster than `fill_blocks` byte by byte (0.12 against 0.27 ms at 768×576).
            Self::Bytes { data: out, layout: InputLayout::SpaceToDepth, .. } => {
                let mut rows = rows;
                for dst in out[range].chunks_exact_mut(width * 6) {
                    let (Some(upper), Some(lower)) = (rows.next(), rows.next()) else { break };
                    let pairs = upper.chunks_exact(6).zip(lower.chunks_exact(6));
                    for (block, (upper, lower)) in dst.chunks_exact_mut(12).zip(pairs) {
                        block[..6].copy_from_slice(upper);
                        block[6..].copy_from_slice(lower);
                    }
                }
            }
            Self::Floats { data: out, lut, layout: InputLayout::SpaceToDepth, .. } => {
                fill_blocks(rows, width, &mut out[range], |c, v| lut[c][v as usize])
            }
            // A byte input in planes: no model of ours takes one; the values go where the layout says.
            Self::Bytes { data: out, layout: InputLayout::Nchw, .. } => {
                let out = &mut out[range];
                for (y, row) in rows.enumerate() {
                    for (i, &v) in row.iter().enumerate() {
                        out[InputLayout::Nchw.offset(i / 3, y, i % 3, width, height)] = v;
                    }
                }
            }
            Self::Floats { data: out, lut, layout: InputLayout::Nhwc, .. } => {
                let out = &mut out[range];
                for (row, dst) in rows.zip(out.chunks_exact_mut(width * 3)) {
                    for (px, d) in row.chunks_exact(3).zip(dst.chunks_exact_mut(3)) {
                        d[0] = lut[0][px[0] as usize];
                        d[1] = lut[1][px[1] as usize];
                        d[2] = lut[2][px[2] as usize];
                    }
                }
            }
            Self::Floats { data: out, lut, layout: InputLayout::Nchw, .. } => {
                let out = &mut out[range];
                let plane = width * height;
                let (r, rest) = out.split_at_mut(plane);
                let (g, b) = rest.split_at_mut(plane);
                let planes = r.chunks_exact_mut(width).zip(g.chunks_exact_mut(width)).zip(b.chunks_exact_mut(width));
                // Iterators, not indices: no bounds check in the loop, which runs 442,368 times a frame.
                for (row, ((r, g), b)) in rows.zip(planes) {
                    for (px, ((r, g), b)) in row.chunks_exact(3).zip(r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut())) {
                        *r = lut[0][px[0] as usize];
                        *g = lut[1][px[1] as usize];
                        *b = lut[2][px[2] as usize];
                    }
                }
            }
        }
    }
}

/// Writes packed RGB rows of `width` pixels as 2×2 blocks ([`InputLayout::SpaceToDepth`]): block
/// row `y` is pixel rows `2y` and `2y + 1`, each block the two pixels of the upper row, then the two
/// of the lower; `value` maps (channel, byte) to the tensor's value.
fn fill_blocks<'a, T>(
    mut rows: impl Iterator<Item = &'a [u8]>,
    width: usize,
    out: &mut [T],
    value: impl Fn(usize, u8) -> T,
) {
    for dst in out.chunks_exact_mut(width * 6) {
        let (Some(upper), Some(lower)) = (rows.next(), rows.next()) else { return };
        for ((block, upper), lower) in dst.chunks_exact_mut(12).zip(upper.chunks_exact(6)).zip(lower.chunks_exact(6)) {
            let (top, bottom) = block.split_at_mut(6);
            for (i, ((t, b), (&u, &l))) in top.iter_mut().zip(bottom).zip(upper.iter().zip(lower)).enumerate() {
                *t = value(i % 3, u);
                *b = value(i % 3, l);
            }
        }
    }
}

/// Mirrors one frame's values, in `layout`, left to right.
fn mirror_layout<T>(values: &mut [T], layout: InputLayout, width: usize) {
    match layout {
        InputLayout::Nhwc => values.chunks_exact_mut(width * 3).for_each(|row| mirror_pixels(row, 3)),
        // Three planes of `height` rows of `width` values.
        InputLayout::Nchw => values.chunks_exact_mut(width).for_each(<[T]>::reverse),
        // Blocks change places, and the two columns of each block change places in it.
        InputLayout::SpaceToDepth => {
            for row in values.chunks_exact_mut(width * 6) {
                mirror_pixels(row, 12);
                for block in row.chunks_exact_mut(12) {
                    for c in 0..3 {
                        block.swap(c, 3 + c);
                        block.swap(6 + c, 9 + c);
                    }
                }
            }
        }
    }
}

/// Reverses the order of the `channels`-value pixels of `row`, each pixel's values kept in order.
fn mirror_pixels<T>(row: &mut [T], channels: usize) {
    let pixels = row.len() / channels;
    for i in 0..pixels / 2 {
        let j = pixels - 1 - i;
        for c in 0..channels {
            row.swap(i * channels + c, j * channels + c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::{Manifest, ToneCurve};
    use crate::ingest::Frame;

    fn spec(layout: &str, dtype: &str, width: u32, height: u32) -> ModelSpec {
        let text = format!(
            "[[model]]\nname = \"m\"\nfile = \"m.onnx\"\nformat = \"yolov8\"\ninput_name = \"i\"\n\
             input_layout = \"{layout}\"\ninput_dtype = \"{dtype}\"\ninput_width = {width}\ninput_height = {height}\n\
             mean = [0.5, 0.0, 0.0]\nstd = [0.5, 1.0, 1.0]\n"
        );
        Manifest::parse(&text, std::path::Path::new("m.toml")).unwrap().models.remove(0)
    }

    const LAYOUTS: [(&str, &str); 6] = [
        ("nhwc", "uint8"),
        ("nhwc", "float32"),
        ("nchw", "uint8"),
        ("nchw", "float32"),
        ("space-to-depth", "uint8"),
        ("space-to-depth", "float32"),
    ];

    /// The buffer's values of slot `slot`, as floats whatever their type.
    fn values(buffer: &InputBuffer, slot: usize, per_frame: usize) -> Vec<f32> {
        let range = slot * per_frame..(slot + 1) * per_frame;
        match buffer {
            InputBuffer::Bytes { data, .. } => data[range].iter().map(|&v| v as f32).collect(),
            InputBuffer::Floats { data, .. } => data[range].to_vec(),
        }
    }

    #[test]
    fn every_layout_puts_each_value_where_its_offset_says() {
        // 4×4 pixels (2×2 blocks), in a frame whose rows GStreamer pads; a curve for the toned fill.
        let rgb: Vec<u8> = (0..48).map(|v| v * 5).collect();
        let frame = Frame::from_rgb(4, 4, rgb.clone(), 0).unwrap();
        let other = Frame::from_rgb(4, 4, vec![200; 48], 0).unwrap();
        let curve = ToneCurve::stretch(10.0, 100.0);
        let mut rendered = vec![0; 48];
        curve.render(&frame.rgb().unwrap(), &mut rendered);
        for (layout, dtype) in LAYOUTS {
            let spec = spec(layout, dtype, 4, 4);
            let mut buffer = InputBuffer::new(&spec);
            buffer.set_slots(&spec, 3);
            buffer.fill_slot(1, &frame.rgb().unwrap());
            // Another frame through the curve first: what it leaves behind must not show.
            buffer.fill_slot_toned(2, &other.rgb().unwrap(), Some(&curve));
            buffer.fill_slot_toned(2, &frame.rgb().unwrap(), Some(&curve));
            for (slot, source) in [(1, &rgb), (2, &rendered)] {
                let seen = values(&buffer, slot, 48);
                for (i, &v) in source.iter().enumerate() {
                    let (x, y, c) = ((i / 3) % 4, i / 12, i % 3);
                    let want =
                        if dtype == "uint8" { v as f32 } else { (v as f32 / 255.0 - spec.mean[c]) / spec.std[c] };
                    let at = spec.input_layout.offset(x, y, c, 4, 4);
                    assert_eq!(seen[at], want, "{layout} {dtype} slot {slot}: pixel ({x}, {y}) channel {c}");
                }
            }
            assert!(values(&buffer, 0, 48).iter().all(|&v| v == 0.0), "{layout} {dtype}: slot 0 untouched");
        }
    }

    #[test]
    fn a_mirrored_slot_is_the_fill_of_the_mirrored_frame_in_each_layout() {
        // 4×2 pixels and their mirror image, pixel by pixel.
        let rgb: Vec<u8> = (0..24).map(|v| v * 10).collect();
        let mirrored: Vec<u8> =
            rgb.chunks_exact(12).flat_map(|row| row.chunks_exact(3).rev().flatten().copied()).collect();
        let (frame, flipped) = (Frame::from_rgb(4, 2, rgb, 0).unwrap(), Frame::from_rgb(4, 2, mirrored, 0).unwrap());
        for (layout, dtype) in LAYOUTS {
            let mut seen = InputBuffer::new(&spec(layout, dtype, 4, 2));
            let mut expected = InputBuffer::new(&spec(layout, dtype, 4, 2));
            for buffer in [&mut seen, &mut expected] {
                buffer.set_slots(&spec(layout, dtype, 4, 2), 2);
            }
            seen.fill_slot(1, &frame.rgb().unwrap());
            seen.mirror_slot(1, 4, 2);
            expected.fill_slot(1, &flipped.rgb().unwrap());
            let same = match (&seen, &expected) {
                (InputBuffer::Bytes { data: a, .. }, InputBuffer::Bytes { data: b, .. }) => a == b,
                (InputBuffer::Floats { data: a, .. }, InputBuffer::Floats { data: b, .. }) => a == b,
                _ => false,
            };
            assert!(same, "{layout} {dtype}");
        }
    }

    #[test]
    fn fills_each_layout_from_a_padded_frame() {
        // 3×2 pixels: GStreamer pads each 9-byte RGB row to 12 bytes.
        let rgb: Vec<u8> = (0..18).map(|v| v * 10).collect();
        let frame = Frame::from_rgb(3, 2, rgb.clone(), 0).unwrap();
        let view = frame.rgb().unwrap();
        assert_eq!(view.stride(), 12);

        let mut bytes = InputBuffer::new(&spec("nhwc", "uint8", 3, 2));
        bytes.fill(&view);
        let InputBuffer::Bytes { data: out, .. } = &bytes else { panic!() };
        assert_eq!(out, &rgb);

        let mut planar = InputBuffer::new(&spec("nchw", "float32", 3, 2));
        planar.fill(&view);
        let InputBuffer::Floats { data, .. } = &planar else { panic!() };
        let red: Vec<f32> = rgb.iter().step_by(3).map(|&v| (v as f32 / 255.0 - 0.5) / 0.5).collect();
        let green: Vec<f32> = rgb.iter().skip(1).step_by(3).map(|&v| v as f32 / 255.0).collect();
        assert_eq!(&data[..6], &red[..]);
        assert_eq!(&data[6..12], &green[..]);
        assert_eq!(data[12], rgb[2] as f32 / 255.0);

        let mut packed = InputBuffer::new(&spec("nhwc", "float32", 3, 2));
        packed.fill(&view);
        let InputBuffer::Floats { data, .. } = &packed else { panic!() };
        assert_eq!(data[3], red[1]);
        assert_eq!(data[4], green[1]);
    }

    #[test]
    fn a_tone_curve_goes_into_every_layout() {
        let rgb: Vec<u8> = (0..5 * 4 * 3).map(|v| (v * 3) as u8).collect();
        let frame = Frame::from_rgb(5, 4, rgb, 0).unwrap();
        let view = frame.rgb().unwrap();
        let curve = ToneCurve::stretch(10.0, 100.0);
        let mut rendered = vec![0; 5 * 4 * 3];
        curve.render(&view, &mut rendered);
        assert_ne!(rendered, (0..60).map(|v| (v * 3) as u8).collect::<Vec<_>>());

        let mut bytes = InputBuffer::new(&spec("nhwc", "uint8", 5, 4));
        bytes.set_slots(&spec("nhwc", "uint8", 5, 4), 2);
        bytes.fill_slot_toned(1, &view, Some(&curve));
        let InputBuffer::Bytes { data: out, .. } = &bytes else { panic!() };
        assert_eq!(&out[60..], &rendered[..]);
        assert!(out[..60].iter().all(|&v| v == 0), "slot 0 untouched");

        let mut packed = InputBuffer::new(&spec("nhwc", "float32", 5, 4));
        packed.fill_slot_toned(0, &view, Some(&curve));
        let InputBuffer::Floats { data, .. } = &packed else { panic!() };
        assert_eq!(data[3], (rendered[3] as f32 / 255.0 - 0.5) / 0.5);
        assert_eq!(data[4], rendered[4] as f32 / 255.0);
    }

    #[test]
    fn letterbox_maps_back_to_the_source() {
        let lb = Letterbox::new((768, 576), (640, 640), true);
        assert!((lb.scale_x - 640.0 / 768.0).abs() < 1e-6);
        assert_eq!(lb.pad_x, 0.0);
        assert_eq!(lb.pad_y, 80.0);
        let (x, y) = lb.to_source(320.0, 80.0);
        assert!((x - 384.0).abs() < 1e-3 && y.abs() < 1e-3);
        let stretch = Letterbox::new((768, 576), (300, 300), false);
        let (x, y) = stretch.to_source(300.0, 300.0);
        assert!((x - 768.0).abs() < 1e-3 && (y - 576.0).abs() < 1e-3);
    }
}
