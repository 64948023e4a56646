//! Test support, not part of the pipeline: a fake camera that serves a video file over RTSP, in a
//! loop, in real time, for tests, benches and the demo (`lintel-rtsp-server`).
//!
//! A decoding pipeline reads the file (seeking back to the start at its end) and a feeder thread
//! hands its frames, one per `1/fps` of wall-clock time, to the `appsrc` of every RTSP media:
//!
//! ```text
//! filesrc ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink      (the clip, looped)
//!    ──feeder thread, real time──►
//! ( appsrc is-live=true do-timestamp=true ! videoconvert
//!   ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=… ! rtph264pay name=pay0 pt=96 )
//! ```
//!
//! Feeding an `appsrc` rather than looping inside the RTSP media keeps the timestamps a client sees
//! increasing forever (they are the media's running time), whatever happens to the file.
//!
//! ```no_run
//! use lintel::test_camera::{ClipServer, ClipServerOptions};
//! let server = ClipServer::start(ClipServerOptions::new("fixtures/video/vtest.avi"))?;
//! println!("ready {}", server.url());
//! # Ok::<(), lintel::test_camera::ServeError>(())
//! ```

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::ingest::{Credentials, Frame};

/// What a [`ClipServer`] serves, and where.
#[derive(Debug, Clone)]
pub struct ClipServerOptions {
    /// The video file to loop.
    pub file: PathBuf,
    /// Address to listen on; loopback by default, so a test camera is never exposed.
    pub address: String,
    /// TCP port; 0 picks a free one (see [`ClipServer::port`]).
    pub port: u16,
    /// Mount path, with its leading slash.
    pub path: String,
    /// Frames per second to serve; `None` uses the file's own rate (10 for `vtest.avi`).
    pub fps: Option<f64>,
    /// Require this login, with the schemes `auth` offers.
    pub credentials: Option<Credentials>,
    /// Which authentication schemes the server asks for (with `credentials`).
    pub auth: ServerAuth,
    /// Frames between H.264 key frames; `None` is one second. A client that joins waits for one.
    pub key_interval: Option<u32>,
    /// Burn the served frame number into the top-left corner as a bar code (see [`read_stamp`]),
    /// so a client can measure the delay of each frame.
    pub stamp: bool,
    /// Pixels cut off the left, top, right and bottom edges: one clip served as several cameras
    /// that see overlapping parts of the same scene.
    pub crop: Option<[u32; 4]>,
    /// Start this far into the clip (and loop from its beginning): servers of one clip started
    /// at different points play it out of step, as cameras over different doors see people at
    /// different times.
    pub start_at: Duration,
}

impl ClipServerOptions {
    /// Serves `file` at `rtsp://127.0.0.1:<free port>/walkway`, at the file's own rate, without login.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Self {
            file: file.into(),
            address: "127.0.0.1".into(),
            port: 0,
            path: "/walkway".into(),
            fps: None,
            credentials: None,
            auth: ServerAuth::default(),
            key_interval: None,
            stamp: false,
            crop: None,
            start_at: Duration::ZERO,
        }
    }
}

/// The RTSP authentication schemes a [`ClipServer`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerAuth {
    /// Both, as many cameras do.
    #[default]
    BasicAndDigest,
    /// Basic only: a fake camera fishing for the password in clear.
    Basic,
    Digest,
}

/// Why a [`ClipServer`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error("{file}: cannot serve this file: {message}")]
    File { file: String, message: String },
    #[error("cannot listen on {address}:{port}: {message}")]
    Listen { address: String, port: u16, message: String },
}

/// A running RTSP server for one clip. Dropping it (or [`stop`](Self::stop)) closes every client
/// connection and frees the port.
pub struct ClipServer {
    url: String,
    port: u16,
    fps: f64,
    server: rtsp::RTSPServer,
    main_context: gst::glib::MainContext,
    main_loop: gst::glib::MainLoop,
    listener: Option<gst::glib::SourceId>,
    loop_thread: Option<JoinHandle<()>>,
    feeder: Option<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    producer: gst::Pipeline,
    served: Arc<AtomicU64>,
    pushed: Arc<Mutex<VecDeque<(u64, Instant)>>>,
    logins: Arc<AtomicU64>,
}

/// How many push times [`ClipServer::pushed_at`] remembers.
const PUSH_HISTORY: usize = 1024;

impl ClipServer {
    /// Decodes the first frame of the file (so a bad file fails here, not at the first client),
    /// starts listening and starts the real-time feeder.
    pub fn start(options: ClipServerOptions) -> Result<Self, ServeError> {
        gst::init().map_err(|e| ServeError::Init(e.to_string()))?;
        let file_error = |message: String| ServeError::File { file: options.file.display().to_string(), message };
        if !options.file.is_file() {
            return Err(file_error("no such file".into()));
        }
        let (producer, sink) = decoder(&options.file).map_err(|e| file_error(e.to_string()))?;
        let caps = preroll(&producer, &sink).map_err(&file_error)?;
        let info = gst_video::VideoInfo::from_caps(&caps).map_err(|e| file_error(e.to_string()))?;
        let file_fps = info.fps();
        let fps = options
            .fps
            .filter(|fps| fps.is_finite() && *fps > 0.0)
            .or((file_fps.numer() > 0 && file_fps.denom() > 0)
                .then(|| file_fps.numer() as f64 / file_fps.denom() as f64))
            .unwrap_or(10.0);
        let (num, den) = ((fps * 1000.0).round() as i32, 1000);
        let served_caps = {
            let mut caps = caps.clone();
            caps.make_mut().set("framerate", gst::Fraction::new(num, den));
            caps
        };

        let appsrcs: Arc<Mutex<Vec<gst_app::AppSrc>>> = Arc::default();
        let key_interval = options.key_interval.unwrap_or(fps.round().max(1.0) as u32);
        let factory = rtsp::RTSPMediaFactory::new();
        let crop = match options.crop {
            Some([left, top, right, bottom]) => {
                format!("! videocrop left={left} top={top} right={right} bottom={bottom} ")
            }
            None => String::new(),
        };
        factory.set_launch(&format!(
            "( appsrc name=src is-live=true do-timestamp=true format=time ! videoconvert {crop}\
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_interval} \
             ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        ));
        // One encoder for all clients, as a real camera has.
        factory.set_shared(true);
        {
            let appsrcs = Arc::clone(&appsrcs);
            factory.connect_media_configure(move |_, media| {
                let src = media
                    .element()
                    .downcast::<gst::Bin>()
                    .ok()
                    .and_then(|bin| bin.by_name("src"))
                    .and_then(|src| src.downcast::<gst_app::AppSrc>().ok());
                if let Some(src) = src {
                    src.set_caps(Some(&served_caps));
                    appsrcs.lock().unwrap_or_else(|e| e.into_inner()).push(src);
                }
            });
        }

        let server = rtsp::RTSPServer::new();
        server.set_address(&options.address);
        server.set_service(&options.port.to_string());
        if let Some(login) = &options.credentials {
            let role = "camera-viewer";
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder().field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, role).build();
            auth.add_basic(&rtsp::RTSPAuth::make_basic(&login.user, login.password()), &token);
            auth.add_digest(&login.user, login.password(), &token);
            match options.auth {
                ServerAuth::BasicAndDigest => offer_basic_and_digest(&auth),
                ServerAuth::Basic => auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Basic),
                ServerAuth::Digest => auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Digest),
            }
            server.set_auth(Some(&auth));
            factory.add_role_from_structure(
                &gst::Structure::builder(role)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS.as_str(), true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT.as_str(), true)
                    .build(),
            );
        }
        let path = if options.path.starts_with('/') { options.path.clone() } else { format!("/{}", options.path) };
        server
            .mount_points()
            .ok_or_else(|| ServeError::Init("the RTSP server has no mount points".into()))?
            .add_factory(&path, factory);

        // Counts the DESCRIBEs that carried a login the server took (any scheme): what a fake
        // camera would have learnt.
        let logins = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&logins);
        server.connect_client_connected(move |_, client| {
            let counted = Arc::clone(&counted);
            client.connect_describe_request(move |_, context| {
                if context.request().is_some_and(|r| !r.parse_auth_credentials().is_empty()) {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            });
        });

        let main_context = gst::glib::MainContext::new();
        let listener = server.attach(Some(&main_context)).map_err(|e| ServeError::Listen {
            address: options.address.clone(),
            port: options.port,
            message: format!("{e} (is the port in use?)"),
        })?;
        let port = u16::try_from(server.bound_port()).unwrap_or(options.port);
        // Sessions of clients that vanished without a TEARDOWN expire only when someone asks.
        if let Some(pool) = server.session_pool() {
            gst::glib::timeout_source_new(Duration::from_secs(2), None, gst::glib::Priority::DEFAULT, move || {
                pool.cleanup();
                gst::glib::ControlFlow::Continue
            })
            .attach(Some(&main_context));
        }
        let main_loop = gst::glib::MainLoop::new(Some(&main_context), false);
        let loop_thread = {
            let (context, main_loop) = (main_context.clone(), main_loop.clone());
            std::thread::Builder::new()
                .name("rtsp-server".into())
                .spawn(move || {
                    let _ = context.with_thread_default(|| main_loop.run());
                })
                .map_err(|e| ServeError::Init(e.to_string()))?
        };

        producer.set_state(gst::State::Playing).map_err(|e| file_error(e.to_string()))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let pushed = Arc::new(Mutex::new(VecDeque::with_capacity(PUSH_HISTORY)));
        let feeder = {
            let feed = Feeder {
                producer: producer.clone(),
                sink,
                info,
                appsrcs,
                frame_time: Duration::from_secs_f64(den as f64 / num as f64),
                start_at: options.start_at,
                stamp: options.stamp,
                stopping: Arc::clone(&stopping),
                served: Arc::clone(&served),
                pushed: Arc::clone(&pushed),
            };
            std::thread::Builder::new()
                .name("rtsp-feeder".into())
                .spawn(move || feed.run())
                .map_err(|e| ServeError::Init(e.to_string()))?
        };

        let url = format!("rtsp://{}:{port}{path}", options.address);
        tracing::info!(url, fps, "serving {}", options.file.display());
        Ok(Self {
            url,
            port,
            fps,
            server,
            main_context,
            main_loop,
            listener: Some(listener),
            loop_thread: Some(loop_thread),
            feeder: Some(feeder),
            stopping,
            producer,
            served,
            pushed,
            logins,
        })
    }

    /// Requests (DESCRIBE) that reached the server with a login, and were let through.
    pub fn logins_received(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    /// `rtsp://address:port/path`, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on (the chosen one when started with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Frames served per second of wall-clock time.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Frames handed to the encoder so far (0 until a first client connects).
    pub fn frames_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// When the frame stamped `number` was handed to the encoder (the last 1024 are kept).
    pub fn pushed_at(&self, number: u64) -> Option<Instant> {
        let pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
        pushed.iter().find(|(n, _)| *n == number).map(|(_, at)| *at)
    }

    /// Closes every client connection, stops listening and waits for the threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
        let Some(listener) = self.listener.take() else {
            return;
        };
        // The server's sockets belong to its main loop: close them from there.
        let (server, main_loop, context) = (self.server.clone(), self.main_loop.clone(), self.main_context.clone());
        self.main_context.invoke(move || {
            // `SourceId::remove` looks in the default context; the listener lives in ours.
            if let Some(source) = context.find_source_by_id(&listener) {
                source.destroy();
            }
            server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
            if let Some(pool) = server.session_pool() {
                pool.filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
            }
            main_loop.quit();
        });
        if let Some(thread) = self.loop_thread.take() {
            let _ = thread.join();
        }
        let _ = self.producer.set_state(gst::State::Null);
    }
}

impl Drop for ClipServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Offers both schemes, as many cameras do; by default the server offers only Basic.
fn offer_basic_and_digest(auth: &rtsp::RTSPAuth) {
    use gstreamer::glib::translate::ToGlibPtr;
    use rtsp::gst_rtsp::ffi::{GST_RTSP_AUTH_BASIC, GST_RTSP_AUTH_DIGEST};
    // The binding takes one `RTSPAuthMethod` enum value, but C treats the type as flags.
    // SAFETY: `auth` is a live GstRTSPAuth for the duration of the call; the function only stores
    // the flags under the object's lock.
    unsafe {
        rtsp::ffi::gst_rtsp_auth_set_supported_methods(
            auth.to_glib_none().0,
            GST_RTSP_AUTH_BASIC | GST_RTSP_AUTH_DIGEST,
        );
    }
}

/// `filesrc ! decodebin ! videoconvert ! I420 ! appsink`, fed as fast as the feeder pulls.
fn decoder(file: &std::path::Path) -> Result<(gst::Pipeline, gst_app::AppSink), gst::glib::BoolError> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc").property("location", file).build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let sink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("video/x-raw").field("format", "I420").build())
        .sync(false)
        // Backpressure: decode only a few frames ahead of the real-time feeder.
        .max_buffers(2)
        .build();
    pipeline.add_many([&src, &decode, &convert, sink.upcast_ref()])?;
    src.link(&decode)?;
    convert.link(&sink)?;
    let convert_in = convert.static_pad("sink").ok_or_else(|| gst::glib::bool_error!("no sink pad"))?;
    decode.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video && !convert_in.is_linked() {
            let _ = pad.link(&convert_in);
        }
    });
    Ok((pipeline, sink))
}

/// Brings the decoder to PAUSED and returns the caps of its first frame, or why it could not.
fn preroll(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> Result<gst::Caps, String> {
    let error = || {
        pipeline
            .bus()
            .and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error]))
            .and_then(|message| match message.view() {
                gst::MessageView::Error(e) => Some(e.error().message().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "no video frame could be decoded".into())
    };
    if pipeline.set_state(gst::State::Paused).is_err() {
        let _ = pipeline.set_state(gst::State::Null);
        return Err(error());
    }
    let caps = sink.try_pull_preroll(gst::ClockTime::from_seconds(10)).and_then(|sample| sample.caps_owned());
    caps.ok_or_else(|| {
        let message = error();
        let _ = pipeline.set_state(gst::State::Null);
        message
    })
}

/// The real-time pump from the looping decoder to the RTSP medias' appsrcs.
struct Feeder {
    producer: gst::Pipeline,
    sink: gst_app::AppSink,
    info: gst_video::VideoInfo,
    appsrcs: Arc<Mutex<Vec<gst_app::AppSrc>>>,
    frame_time: Duration,
    start_at: Duration,
    stamp: bool,
    stopping: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    pushed: Arc<Mutex<VecDeque<(u64, Instant)>>>,
}

impl Feeder {
    fn run(self) {
        let mut next_due = Instant::now();
        let mut number = 0u64;
        let mut to_skip = (self.start_at.as_secs_f64() / self.frame_time.as_secs_f64()).round() as u64;
        while !self.stopping.load(Ordering::SeqCst) {
            let Some(sample) = self.sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) else {
                if self.sink.is_eos() {
                    // The end of the clip: start it again; the appsrcs' timestamps go on increasing.
                    let restart = gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT;
                    if self.producer.seek_simple(restart, gst::ClockTime::ZERO).is_err() {
                        tracing::error!("cannot seek back to the start of the clip");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                continue;
            };
            let Some(buffer) = sample.buffer_owned() else { continue };
            if to_skip > 0 {
                // Before the start point: decoded and dropped at once, before the clock starts.
                to_skip -= 1;
                next_due = Instant::now();
                continue;
            }
            let now = Instant::now();
            if next_due > now {
                std::thread::sleep(next_due - now);
            } else if now - next_due > 4 * self.frame_time {
                // Far behind (the machine stalled): go on from now rather than bursting to catch up.
                next_due = now;
            }
            next_due += self.frame_time;

            let mut appsrcs = self.appsrcs.lock().unwrap_or_else(|e| e.into_inner());
            if appsrcs.is_empty() {
                continue;
            }
            let Some(buffer) = self.prepare(buffer, number) else { continue };
            // A media that was torn down answers Flushing or Eos: forget it.
            appsrcs.retain(|src| src.push_buffer(buffer.clone()).is_ok());
            drop(appsrcs);
            let mut pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner());
            if pushed.len() == PUSH_HISTORY {
                pushed.pop_front();
            }
            pushed.push_back((number, Instant::now()));
            drop(pushed);
            self.served.fetch_add(1, Ordering::Relaxed);
            number += 1;
        }
    }

    /// A copy of the decoded frame with its file timestamps removed (appsrc stamps it with the
    /// media's running time) and, if asked, its number burnt in.
    fn prepare(&self, buffer: gst::Buffer, number: u64) -> Option<gst::Buffer> {
        let mut out = if self.stamp { buffer.copy_deep().ok()? } else { buffer.copy() };
        {
            let out = out.make_mut();
            out.set_pts(gst::ClockTime::NONE);
            out.set_dts(gst::ClockTime::NONE);
            out.set_duration(gst::ClockTime::from_nseconds(self.frame_time.as_nanos() as u64));
        }
        if self.stamp {
            let mut frame = gst_video::VideoFrame::from_buffer_writable(out, &self.info).ok()?;
            let stride = frame.plane_stride()[0] as usize;
            let (width, height) = (frame.width() as usize, frame.height() as usize);
            let luma = frame.plane_data_mut(0).ok()?;
            for (block, on) in stamp_pattern(number).into_iter().enumerate() {
                let value = if on { 235 } else { 16 };
                for row in 0..STAMP_BLOCK.min(height) {
                    let start = row * stride + block * STAMP_BLOCK;
                    let end = (start + STAMP_BLOCK).min(row * stride + width);
                    if start < end {
                        luma[start..end].fill(value);
                    }
                }
            }
            out = frame.into_buffer();
        }
        Some(out)
    }
}

/// Side of one square of the frame-number bar code, in source pixels.
const STAMP_BLOCK: usize = 16;
/// Bits of the frame number in the bar code: 2^24 frames are 19 days at 10 fps, then it wraps.
const STAMP_BITS: usize = 24;

/// White, black, then the number's bits from the most significant: the first two squares tell
/// a stamped frame from an ordinary one.
fn stamp_pattern(number: u64) -> Vec<bool> {
    let mut squares = vec![true, false];
    squares.extend((0..STAMP_BITS).rev().map(|bit| (number >> bit) & 1 == 1));
    squares
}

/// The frame number a [`ClipServer`] started with `stamp: true` burnt into this frame, if any.
/// Works on scaled frames as long as a square stays a few pixels wide (stretch scaling only).
pub fn read_stamp(frame: &Frame) -> Option<u64> {
    let view = frame.rgb().ok()?;
    let scale_x = view.width() as f64 / frame.source_width.max(1) as f64;
    let scale_y = view.height() as f64 / frame.source_height.max(1) as f64;
    let y = ((STAMP_BLOCK as f64 / 2.0) * scale_y) as usize;
    let squares: Option<Vec<bool>> = (0..STAMP_BITS + 2)
        .map(|block| {
            let x = ((block * STAMP_BLOCK) as f64 + STAMP_BLOCK as f64 / 2.0) * scale_x;
            let offset = y * view.stride() + x as usize * 3;
            // The green channel follows luma closely enough for black and white squares.
            view.data().get(offset + 1).map(|green| *green > 128)
        })
        .collect();
    let squares = squares?;
    let starts_white_black = squares[0] && !squares[1];
    if !starts_white_black {
        return None;
    }
    Some(squares[2..].iter().fold(0u64, |number, bit| (number << 1) | u64::from(*bit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_back() {
        for number in [0u64, 1, 77, 1_000_003] {
            let (width, height) = (STAMP_BLOCK * (STAMP_BITS + 2) + 5, 40usize);
            let mut rgb = vec![0u8; width * height * 3];
            for (block, on) in stamp_pattern(number).into_iter().enumerate() {
                for row in 0..STAMP_BLOCK {
                    for col in block * STAMP_BLOCK..(block + 1) * STAMP_BLOCK {
                        let at = (row * width + col) * 3;
                        rgb[at..at + 3].fill(if on { 235 } else { 16 });
                    }
                }
            }
            let frame = Frame::from_rgb(width as u32, height as u32, rgb, 0).unwrap();
            assert_eq!(read_stamp(&frame), Some(number));
        }
    }

    #[test]
    fn unstamped_frames_have_no_number() {
        let frame = Frame::from_rgb(640, 40, vec![200; 640 * 40 * 3], 0).unwrap();
        assert_eq!(read_stamp(&frame), None);
    }
}
