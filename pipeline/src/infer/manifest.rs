//! `models/models.toml`: which ONNX models exist, what their inputs are and how to read their outputs.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::InferError;

/// How a detector's outputs are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// TensorFlow Object Detection API export: `detection_boxes` (normalised ymin, xmin, ymax, xmax),
    /// `detection_scores`, `detection_classes`, `num_detections`; NMS already done in the graph.
    SsdTf,
    /// The same SSD cut before its non-maximum suppression (`scripts/models/cut_detector_nms.py`):
    /// `boxes` `[N, anchors, 1, 4]` decoded, normalised (ymin, xmin, ymax, xmax), and `scores`
    /// `[N, anchors, classes]` without the background column (`person_class` is the column).
    /// Lintel keeps the person scores above its threshold, runs NMS at `nms_iou`, keeps the best
    /// 100 and clips them to the frame, as the graph did.
    SsdBoxes,
    /// Ultralytics YOLOv8 / YOLO11: `[1, 4 + classes, N]`, boxes cx, cy, w, h in input pixels, no objectness.
    Yolov8,
    /// YOLOv5 / YOLOv7: `[1, N, 5 + classes]`, cx, cy, w, h, objectness, class scores.
    Yolov5,
    /// YOLOX exported without in-graph decoding: `[1, N, 5 + classes]` grid offsets, strides 8, 16, 32.
    Yolox,
    /// An appearance (re-identification) model: `[N, embedding_dim]` features per person crop.
    Embedding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputLayout {
    Nhwc,
    Nchw,
    /// NHWC in 2×2 blocks, `[N, H/2, W/2, 12]`: each block's four pixels row by row, RGB each
    /// (TensorFlow's SpaceToDepth with block size 2). The INT8 SSD graphs take their image so
    /// (`scripts/models/cut_detector_nms.py`): their first convolution is then one of 12 channels,
    /// which ONNX Runtime runs twice as fast as one of 3. Width and height must be even.
    #[serde(rename = "space-to-depth")]
    SpaceToDepth,
}

impl InputLayout {
    /// The input tensor's shape for `batch` frames of `width`×`height`.
    pub fn shape(self, batch: usize, width: usize, height: usize) -> [usize; 4] {
        match self {
            Self::Nhwc => [batch, height, width, 3],
            Self::Nchw => [batch, 3, height, width],
            Self::SpaceToDepth => [batch, height / 2, width / 2, 12],
        }
    }

    /// Where channel `c` of pixel (`x`, `y`) of a `width`×`height` frame goes in its tensor.
    pub fn offset(self, x: usize, y: usize, c: usize, width: usize, height: usize) -> usize {
        match self {
            Self::Nhwc => (y * width + x) * 3 + c,
            Self::Nchw => (c * height + y) * width + x,
            Self::SpaceToDepth => ((y / 2) * (width / 2) + x / 2) * 12 + ((y % 2) * 2 + x % 2) * 3 + c,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputDtype {
    Uint8,
    Float32,
}

/// One model of the manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    /// Relative to the manifest's folder.
    pub file: PathBuf,
    #[serde(default = "default_role")]
    pub role: String,
    pub format: OutputFormat,
    pub input_name: String,
    pub input_layout: InputLayout,
    pub input_dtype: InputDtype,
    pub input_width: u32,
    pub input_height: u32,
    /// The class index that means "person" in this model's numbering.
    #[serde(default)]
    pub person_class: u32,
    /// Output tensor names, in the order the format expects (SSD: boxes, scores, classes, num).
    #[serde(default)]
    pub outputs: Vec<String>,
    /// IoU above which non-maximum suppression drops the weaker of two boxes, for formats whose
    /// graph does not run it (default 0.45, the YOLO exports' own).
    pub nms_iou: Option<f32>,
    /// Keep the aspect ratio and pad (YOLO); default: YOLO formats letterbox, SSD stretches.
    pub letterbox: Option<bool>,
    /// Float inputs: value = (pixel / 255 − mean) / std, per RGB channel.
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
    /// Length of an appearance model's feature vector.
    pub embedding_dim: Option<usize>,
    /// Region networks of this detector: the same weights at smaller inputs, by model name. A
    /// camera whose zones fit one of them is detected on that rectangle only (README, "A detector
    /// that looks where it counts").
    #[serde(default)]
    pub regions: Vec<String>,
    pub sha256: Option<String>,
    pub licence: Option<String>,
    pub source: Option<String>,
}

fn default_role() -> String {
    "detector".into()
}
fn default_mean() -> [f32; 3] {
    [0.0; 3]
}
fn default_std() -> [f32; 3] {
    [1.0; 3]
}

impl ModelSpec {
    pub fn letterboxed(&self) -> bool {
        self.letterbox.unwrap_or(!matches!(self.format, OutputFormat::SsdTf | OutputFormat::SsdBoxes))
    }
}

/// The parsed manifest, with the folder its relative paths start from.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub default: Option<String>,
    pub models: Vec<ModelSpec>,
}

#[derive(Deserialize)]
struct ManifestFile {
    default: Option<String>,
    #[serde(default, rename = "model")]
    models: Vec<ModelSpec>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, InferError> {
        let text = std::fs::read_to_string(path).map_err(|e| InferError::Manifest {
            path: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, InferError> {
        let file: ManifestFile = toml::from_str(text).map_err(|e| InferError::Manifest {
            path: path.to_path_buf(),
            line: e.span().map_or(0, |span| line_of(text, span.start)),
            message: e.message().to_string(),
        })?;
        let manifest = Self { path: path.to_path_buf(), default: file.default, models: file.models };
        if let Some(odd) = manifest.models.iter().find(|m| {
            m.input_layout == InputLayout::SpaceToDepth && (m.input_width % 2 != 0 || m.input_height % 2 != 0)
        }) {
            return Err(InferError::Manifest {
                path: path.to_path_buf(),
                line: line_of(text, text.find(&format!("\"{}\"", odd.name)).unwrap_or(0)),
                message: format!(
                    "model {:?}: input_layout = \"space-to-depth\" takes 2×2 blocks, so input_width and \
                     input_height must be even (they are {} and {})",
                    odd.name, odd.input_width, odd.input_height
                ),
            });
        }
        if let Some(default) = &manifest.default
            && manifest.model(default).is_none()
        {
            return Err(InferError::Manifest {
                path: path.to_path_buf(),
                line: line_of(text, text.find("default").unwrap_or(0)),
                message: format!("default: no model named {default:?}"),
            });
        }
        Ok(manifest)
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The model named `name`, or the manifest's default detector.
    pub fn detector(&self, name: Option<&str>) -> Result<&ModelSpec, InferError> {
        let wanted = name.or(self.default.as_deref());
        let found = match wanted {
            Some(name) => self.model(name),
            None => self.models.iter().find(|m| m.role == "detector"),
        };
        found.ok_or_else(|| InferError::Manifest {
            path: self.path.clone(),
            line: 0,
            message: match wanted {
                Some(name) => format!("no model named {name:?} (models: {})", self.names()),
                None => "no detector model".into(),
            },
        })
    }

    /// The re-identification model named `name`, or the manifest's first one.
    pub fn reid(&self, name: Option<&str>) -> Result<&ModelSpec, InferError> {
        let found = match name {
            Some(name) => self.model(name),
            None => self.models.iter().find(|m| m.role == "reid"),
        };
        match found {
            Some(spec) if spec.format == OutputFormat::Embedding => Ok(spec),
            Some(spec) => {
                Err(self.error(format!("model {:?} is not a re-ID model (format = \"embedding\")", spec.name)))
            }
            None => Err(self.error(match name {
                Some(name) => format!("no model named {name:?} (models: {})", self.names()),
                None => "no re-ID model (role = \"reid\"); run scripts/install-models".into(),
            })),
        }
    }

    /// The region networks `spec` names, with their files; an unknown name is an error.
    pub fn regions_of(&self, spec: &ModelSpec) -> Result<Vec<(ModelSpec, PathBuf)>, InferError> {
        spec.regions
            .iter()
            .map(|name| match self.model(name) {
                Some(region) => Ok((region.clone(), self.file_of(region))),
                None => Err(self.error(format!(
                    "model {:?}: its region {name:?} is no model (models: {})",
                    spec.name,
                    self.names()
                ))),
            })
            .collect()
    }

    fn error(&self, message: String) -> InferError {
        InferError::Manifest { path: self.path.clone(), line: 0, message }
    }

    /// Where the model's file lives.
    pub fn file_of(&self, spec: &ModelSpec) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(&spec.file)
    }

    fn names(&self) -> String {
        self.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_model() {
        let text = r#"
default = "m"
[[model]]
name = "m"
file = "m.onnx"
format = "yolov8"
input_name = "images"
input_layout = "nchw"
input_dtype = "float32"
input_width = 640
input_height = 640
"#;
        let manifest = Manifest::parse(text, Path::new("models/models.toml")).unwrap();
        let spec = manifest.detector(None).unwrap();
        assert_eq!(spec.format, OutputFormat::Yolov8);
        assert!(spec.letterboxed());
        assert_eq!(manifest.file_of(spec), Path::new("models/m.onnx"));
    }

    #[test]
    fn a_detector_names_its_regions() {
        let model = |name: &str, regions: &str| {
            format!(
                "[[model]]\nname = \"{name}\"\nfile = \"{name}.onnx\"\nformat = \"ssd-boxes\"\ninput_name = \"i\"\n\
                 input_layout = \"nhwc\"\ninput_dtype = \"uint8\"\ninput_width = 8\ninput_height = 8\nregions = [{regions}]\n"
            )
        };
        let text = model("big", r#""small""#) + &model("small", "");
        let manifest = Manifest::parse(&text, Path::new("models/models.toml")).unwrap();
        let regions = manifest.regions_of(manifest.model("big").unwrap()).unwrap();
        assert_eq!(regions.len(), 1);
        assert_eq!(regions[0].0.name, "small");
        assert_eq!(regions[0].1, Path::new("models/small.onnx"));
        let text = model("big", r#""gone""#);
        let manifest = Manifest::parse(&text, Path::new("models/models.toml")).unwrap();
        let error = manifest.regions_of(manifest.model("big").unwrap()).unwrap_err().to_string();
        assert!(error.contains("\"gone\" is no model"), "{error}");
    }

    #[test]
    fn a_blocked_input_needs_an_even_size_and_places_each_pixel_in_its_block() {
        let model = |width: u32| {
            format!(
                "[[model]]\nname = \"m\"\nfile = \"m.onnx\"\nformat = \"ssd-boxes\"\ninput_name = \"i\"\n\
                 input_layout = \"space-to-depth\"\ninput_dtype = \"uint8\"\ninput_width = {width}\ninput_height = 6\n"
            )
        };
        let manifest = Manifest::parse(&model(8), Path::new("models.toml")).unwrap();
        let layout = manifest.models[0].input_layout;
        assert_eq!(layout.shape(2, 8, 6), [2, 3, 4, 12]);
        // Pixel (3, 1): block (1, 0), bottom right of it; block (1, 0) is the second of row 0.
        assert_eq!(layout.offset(3, 1, 2, 8, 6), 12 + 9 + 2);
        // Pixel (4, 2): block (2, 1), top left; row 1 starts after 4 blocks.
        assert_eq!(layout.offset(4, 2, 0, 8, 6), (4 + 2) * 12);
        let error = Manifest::parse(&model(7), Path::new("models.toml")).unwrap_err().to_string();
        assert!(error.starts_with("models.toml:2:") && error.contains("must be even (they are 7 and 6)"), "{error}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let text = "[[model]]\nname = \"m\"\nformat = \"yolo99\"\n";
        let error = Manifest::parse(text, Path::new("models.toml")).unwrap_err().to_string();
        assert!(error.starts_with("models.toml:3:"), "{error}");
        assert!(error.contains("yolo99") || error.contains("variant"), "{error}");
    }
}
