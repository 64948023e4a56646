//! Benchmarks live in `benches/`; see README.md.
//!
//! This library holds what the criterion benches share: a deterministic pseudo-random generator
//! and a synthetic crowd, so every run (and every machine) measures the same scene.

use lintel::detection::BBox;

/// SplitMix64: a tiny deterministic generator. Synthetic inputs need the same numbers on every
/// run, not statistical quality, and a dependency would be more than this.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// One person's straight walk through the picture.
#[derive(Debug, Clone, Copy)]
struct Walk {
    from: (f32, f32),
    to: (f32, f32),
    size: (f32, f32),
    /// Where in the cycle this person starts, so people come and go at different times.
    offset: u32,
}

/// People walking through a door camera's view, periodic with `cycle` frames: each person walks a
/// straight line (mostly up or down the picture) for `visible` frames, is out of view for the
/// rest of the cycle, then walks again. A bench can replay one cycle forever and stay in a steady
/// state: the same number of people, arrivals and departures.
#[derive(Debug, Clone)]
pub struct Crowd {
    walks: Vec<Walk>,
    cycle: u32,
    visible: u32,
}

impl Crowd {
    /// `people` walkers, `per_tile` of them in each `tile` (width, height) of picture; tiles sit side by
    /// side, so the density of people (and how often their boxes overlap) does not grow with `people`.
    pub fn new(people: usize, per_tile: usize, tile: (f32, f32), cycle: u32, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let visible = cycle * 4 / 5;
        let (tw, th) = tile;
        let walks = (0..people)
            .map(|k| {
                let x0 = (k / per_tile.max(1)) as f32 * tw;
                let (w, h) = (rng.range(36.0, 56.0), rng.range(90.0, 140.0));
                // Feet from above the top edge to below the bottom one (or back), drifting sideways.
                let (top, bottom) = (h * 0.5, th + h * 0.3);
                let (xa, xb) = (x0 + rng.range(0.1, 0.9) * tw, x0 + rng.range(0.1, 0.9) * tw);
                let (from, to) = if rng.chance(0.5) { ((xa, top), (xb, bottom)) } else { ((xa, bottom), (xb, top)) };
                Walk { from, to, size: (w, h), offset: rng.below(cycle as usize) as u32 }
            })
            .collect();
        Self { walks, cycle, visible }
    }

    pub fn people(&self) -> usize {
        self.walks.len()
    }

    pub fn cycle(&self) -> u32 {
        self.cycle
    }

    /// Where person `k` is in frame `t`: `None` while out of view.
    pub fn bbox(&self, k: usize, t: u32) -> Option<BBox> {
        let walk = &self.walks[k];
        let phase = (t + walk.offset) % self.cycle;
        if phase >= self.visible {
            return None;
        }
        let f = phase as f32 / self.visible as f32;
        let feet = (walk.from.0 + (walk.to.0 - walk.from.0) * f, walk.from.1 + (walk.to.1 - walk.from.1) * f);
        let (w, h) = walk.size;
        Some(BBox { left: feet.0 - w / 2.0, top: feet.1 - h, width: w, height: h })
    }

    /// Whether person `k` walked out of view at frame `t` (was in view at `t - 1`, is not at `t`).
    pub fn left_at(&self, k: usize, t: u32) -> bool {
        (t + self.walks[k].offset) % self.cycle == self.visible
    }
}
