//! The plain-data type that ingest hands to the detector.

use std::time::Duration;

use gstreamer_video::prelude::*;

/// One decoded, scaled RGB frame, still in its GStreamer buffer (no copy on the way to the detector).
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

/// A mapped, readable view of a frame's packed RGB pixels.
pub struct RgbView<'a> {
    frame: gstreamer_video::VideoFrameRef<&'a gstreamer::BufferRef>,
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
            .map(|frame| RgbView { frame })
            .map_err(|_| MapError)
    }
}

impl RgbView<'_> {
    /// The pixel rows, `stride` bytes apart (GStreamer pads rows to 4 bytes).
    pub fn data(&self) -> &[u8] {
        // Plane 0 of a packed RGB frame always exists.
        self.frame.plane_data(0).unwrap_or(&[])
    }

    pub fn stride(&self) -> usize {
        self.frame.plane_stride()[0] as usize
    }

    pub fn width(&self) -> usize {
        self.frame.width() as usize
    }

    pub fn height(&self) -> usize {
        self.frame.height() as usize
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
