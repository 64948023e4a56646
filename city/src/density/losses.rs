//! Losses made visible: every message a node publishes (counts, occupancy, alerts, node status)
//! carries the node's next `seq`, so a seq that never arrives is a message lost on the way
//! (the broker's queue overflowing, a bridge dropping, a node's spool discarding).
//!
//! Rules, per node:
//! - the first seq seen is where counting starts (nothing before it is known);
//! - a seq above the highest opens a gap for those between;
//! - a seq inside a gap fills it (reordering is tolerated) for [`SETTLE`]; a gap still open
//!   then is counted as lost, once;
//! - a seq at or below the highest outside any gap (a duplicate, a redelivery) changes nothing;
//! - a node's `online` status follows the seq the node reserved at start for its MQTT last will
//!   (sent by the broker only if the node dies), so that one seq is not a loss (nodes also send
//!   `online` after a reconnect or a camera change, and the wire does not tell them apart: a
//!   loss of the one message just before an `online` status goes uncounted);
//! - a retained message (delivered again on every subscription, possibly days old) only fills
//!   gaps, never starts or moves a node's count.
//!
//! Memory is bounded: at most [`MAX_NODES`] nodes are tracked (messages of further node ids are
//! counted as untracked, not remembered: a flood of invented ids cannot grow memory) and at most
//! [`MAX_GAPS_PER_NODE`] open gaps per node (the oldest is then counted as lost at once); one gap
//! counts at most [`MAX_GAP_COUNTED`].
//!
//! Only a consumer that sees all of a node's messages can count: with a shared subscription each
//! worker sees a share, so [`super::consumer`] does not count there.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use lintel_wire::{Message, NodeState, SeqNo};

/// How long a missing seq may arrive late before it is counted as lost.
pub const SETTLE: Duration = Duration::from_secs(5);
/// The most nodes tracked; a city's nodes, not an attacker's invented ids.
pub const MAX_NODES: usize = 4096;
/// The most open gaps per node.
pub const MAX_GAPS_PER_NODE: usize = 64;
/// The most one gap counts: a jump further (a node that lies, or a reset store) is not a
/// billion lost messages, and no counter can overflow.
pub const MAX_GAP_COUNTED: u64 = 1_000_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

/// The counters of losses, registered in a Prometheus registry.
#[derive(Debug, Default)]
pub struct LossMetrics {
    by_node: Family<NodeLabel, Counter>,
    /// All nodes together (for the map page).
    pub total: Counter,
    /// Messages of nodes over [`MAX_NODES`], not counted.
    pub untracked: Counter,
}

impl LossMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "lintel_density_seq_gaps",
            "Messages lost: seqs of a node that never arrived (see the density README).",
            self.by_node.clone(),
        );
        registry.register(
            "lintel_density_seq_untracked",
            "Messages of nodes beyond the tracked number, whose losses are not counted.",
            self.untracked.clone(),
        );
    }

    /// Seqs counted as lost for `node` (asking adds no series).
    pub fn lost(&self, node: &str) -> u64 {
        self.by_node.get(&NodeLabel { node: node.to_string() }).map_or(0, |c| c.get())
    }
}

/// What a message says for the seq accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A message, delivered live.
    Live,
    /// A node status `online`: the seq before it was the last will's.
    Online,
    /// Delivered because it was retained (old news).
    Retained,
}

impl Seen {
    /// How a message delivered with this `retained` flag counts.
    pub fn of(message: &Message, retained: bool) -> Self {
        match message {
            _ if retained => Seen::Retained,
            Message::NodeStatus(s) if s.state == NodeState::Online => Seen::Online,
            _ => Seen::Live,
        }
    }
}

#[derive(Debug)]
struct Gap {
    /// The missing seqs: `from..to`.
    from: SeqNo,
    to: SeqNo,
    opened: Instant,
}

#[derive(Debug)]
struct NodeSeqs {
    highest: SeqNo,
    /// Open gaps, in seq order.
    gaps: VecDeque<Gap>,
}

/// Each node's seqs: the gaps open now.
#[derive(Debug, Default)]
pub struct SeqTracker {
    nodes: HashMap<String, NodeSeqs>,
}

impl SeqTracker {
    /// Notes `seq` of `node` at `now`; losses counted at once (too many open gaps) go to `metrics`.
    pub fn see(&mut self, node: &str, seq: SeqNo, seen: Seen, now: Instant, metrics: &LossMetrics) {
        if !self.nodes.contains_key(node) {
            if seen == Seen::Retained {
                return;
            }
            if self.nodes.len() >= MAX_NODES {
                metrics.untracked.inc();
                return;
            }
            self.nodes.insert(node.to_string(), NodeSeqs { highest: seq, gaps: VecDeque::new() });
            return;
        }
        let Some(seqs) = self.nodes.get_mut(node) else { return };
        if seq > seqs.highest && seen != Seen::Retained {
            if seq > seqs.highest + 1 {
                seqs.gaps.push_back(Gap { from: seqs.highest + 1, to: seq, opened: now });
            }
            seqs.highest = seq;
        } else if let Some(i) = seqs.gaps.iter().position(|g| g.from <= seq && seq < g.to) {
            fill(&mut seqs.gaps, i, seq);
        }
        if seen == Seen::Online
            && let Some(will) = seq.checked_sub(1)
            && let Some(i) = seqs.gaps.iter().position(|g| g.from <= will && will < g.to)
        {
            fill(&mut seqs.gaps, i, will);
        }
        while seqs.gaps.len() > MAX_GAPS_PER_NODE {
            if let Some(gap) = seqs.gaps.pop_front() {
                count_lost(metrics, node, gap.to - gap.from);
            }
        }
    }

    /// Counts as lost every gap open for [`SETTLE`] by `now`.
    pub fn settle(&mut self, now: Instant, metrics: &LossMetrics) {
        for (node, seqs) in &mut self.nodes {
            seqs.gaps.retain(|gap| {
                let open = now.duration_since(gap.opened) < SETTLE;
                if !open {
                    count_lost(metrics, node, gap.to - gap.from);
                }
                open
            });
        }
    }

    /// How many nodes are tracked.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }
}

/// Takes `seq` out of gap `i` (splitting it in two if it was inside).
fn fill(gaps: &mut VecDeque<Gap>, i: usize, seq: SeqNo) {
    let gap = &mut gaps[i];
    let (from, to, opened) = (gap.from, gap.to, gap.opened);
    match (seq == from, seq + 1 == to) {
        (true, true) => {
            gaps.remove(i);
        }
        (true, false) => gap.from = seq + 1,
        (false, true) => gap.to = seq,
        (false, false) => {
            gap.to = seq;
            gaps.insert(i + 1, Gap { from: seq + 1, to, opened });
        }
    }
}

fn count_lost(metrics: &LossMetrics, node: &str, n: u64) {
    let n = n.min(MAX_GAP_COUNTED);
    metrics.by_node.get_or_create(&NodeLabel { node: node.to_string() }).inc_by(n);
    metrics.total.inc_by(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqs: &[(u64, Seen)]) -> (SeqTracker, LossMetrics, Instant) {
        let (mut tracker, metrics, t) = (SeqTracker::default(), LossMetrics::default(), Instant::now());
        for &(seq, seen) in seqs {
            tracker.see("edge-1", seq, seen, t, &metrics);
        }
        (tracker, metrics, t)
    }

    fn lost_after_settling(seqs: &[(u64, Seen)]) -> u64 {
        let (mut tracker, metrics, t) = run(seqs);
        tracker.settle(t + SETTLE / 2, &metrics);
        assert_eq!(metrics.lost("edge-1"), 0, "nothing is lost before it settles");
        tracker.settle(t + SETTLE, &metrics);
        metrics.lost("edge-1")
    }

    fn live(seqs: &[u64]) -> Vec<(u64, Seen)> {
        seqs.iter().map(|&s| (s, Seen::Live)).collect()
    }

    #[test]
    fn missing_seqs_are_lost_once_they_settle() {
        assert_eq!(lost_after_settling(&live(&[1, 2, 5])), 2);
        assert_eq!(lost_after_settling(&live(&[7, 8, 9])), 0, "counting starts at the first seq seen");
        // Reordered and duplicated: nothing lost.
        assert_eq!(lost_after_settling(&live(&[1, 4, 2, 3, 3, 4, 1, 5])), 0);
        // A late one inside a gap splits it.
        assert_eq!(lost_after_settling(&live(&[1, 10, 5])), 7);
        assert_eq!(lost_after_settling(&live(&[1, 10, 2, 9])), 6);
    }

    #[test]
    fn the_last_wills_seq_and_retained_messages_are_no_loss() {
        // 5 reserved for the will when the node restarted; its online status is 6.
        let restart = [(1, Seen::Live), (2, Seen::Live), (3, Seen::Live), (4, Seen::Live), (6, Seen::Online)];
        assert_eq!(lost_after_settling(&restart), 0);
        // An old retained status first, then the live messages: counting starts at the live ones.
        assert_eq!(lost_after_settling(&[(3, Seen::Retained), (900, Seen::Live), (901, Seen::Live)]), 0);
        // A retained message never moves the highest seq.
        assert_eq!(lost_after_settling(&[(1, Seen::Live), (50, Seen::Retained), (2, Seen::Live)]), 0);
    }

    #[test]
    fn memory_is_bounded_whatever_the_input() {
        let (mut tracker, metrics, t) = (SeqTracker::default(), LossMetrics::default(), Instant::now());
        for i in 0..MAX_NODES + 100 {
            tracker.see(&format!("invented-{i}"), 1, Seen::Live, t, &metrics);
        }
        assert_eq!(tracker.nodes(), MAX_NODES);
        assert_eq!(metrics.untracked.get(), 100);
        // Every other seq: gaps over the bound are counted at once, the open ones stay bounded.
        for seq in (1..1000).map(|s| s * 2) {
            tracker.see("invented-0", seq, Seen::Live, t, &metrics);
        }
        assert!(tracker.nodes["invented-0"].gaps.len() <= MAX_GAPS_PER_NODE);
        tracker.settle(t + SETTLE, &metrics);
        assert_eq!(metrics.lost("invented-0"), 998);
        // The highest seq there is: no overflow.
        tracker.see("invented-1", u64::MAX, Seen::Live, t, &metrics);
        tracker.see("invented-1", u64::MAX - 1, Seen::Live, t, &metrics);
        tracker.settle(t + SETTLE, &metrics);
        assert_eq!(metrics.lost("invented-1"), MAX_GAP_COUNTED, "a jump counts at most the bound");
        assert_eq!(metrics.total.get(), 998 + MAX_GAP_COUNTED);
    }
}
