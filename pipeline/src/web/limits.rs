//! What one peer may take from the node's web server: a few live event streams (the rest stay for
//! everyone else), and login guesses that grow exponentially slower after a few wrong ones.
//! Both are keyed by the peer's IP address (an IPv6 peer by its /64, which one host usually
//! holds whole) and bounded in memory whatever the number of peers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Extractor: the peer's IP address; `None` when the server gives none (a router served by
/// something other than `lintel_http`, as in unit tests).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<IpAddr>);

impl Peer {
    /// The address as the audit trail writes it.
    pub fn name(&self) -> String {
        self.0.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
    }

    /// The key limits count under: the address, or an IPv6 address's /64.
    fn key(&self) -> Option<IpAddr> {
        self.0.map(|ip| match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
            IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)),
            v4 => v4,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// The live event streams (`/api/events`) open at once: at most `total`, and `per_peer` from one
/// peer. A stream holds a connection for as long as a page is open, so without a cap of their own
/// a few hundred held streams would take every connection the server has.
#[derive(Clone, Debug)]
pub struct StreamSlots {
    total: usize,
    per_peer: usize,
    open: Arc<Mutex<HashMap<Option<IpAddr>, usize>>>,
}

impl Default for StreamSlots {
    /// 64 streams, 4 per peer: a site's operators with a few tabs each, well under the 256
    /// connections of the server.
    fn default() -> Self {
        Self::new(64, 4)
    }
}

impl StreamSlots {
    pub fn new(total: usize, per_peer: usize) -> Self {
        Self { total, per_peer, open: Arc::default() }
    }

    /// A slot for one stream of `peer`, freed when the slot is dropped; `None` when the peer or
    /// the server has all it may.
    pub fn take(&self, peer: Peer) -> Option<StreamSlot> {
        let key = peer.key();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = open.values().sum();
        let mine = open.get(&key).copied().unwrap_or(0);
        if total >= self.total || mine >= self.per_peer {
            return None;
        }
        open.insert(key, mine + 1);
        Some(StreamSlot { slots: self.clone(), key })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
    }
}

/// One open stream's place; dropping it (the stream ends, the client left) frees it.
#[derive(Debug)]
pub struct StreamSlot {
    slots: StreamSlots,
    key: Option<IpAddr>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Wrong logins each peer may make before it must wait.
pub const FREE_LOGIN_FAILURES: u32 = 5;
/// The longest a peer is made to wait.
const MAX_LOGIN_WAIT: Duration = Duration::from_secs(15 * 60);
/// Peers remembered at once; past it, the longest quiet is forgotten.
const PEERS_KEPT: usize = 4096;
/// A peer quiet this long since its last wrong token starts afresh (a mistyped token last week
/// does not cost a quarter of an hour today).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Login back-off per peer: after [`FREE_LOGIN_FAILURES`] wrong tokens, each further one makes the
/// peer wait twice as long as the last (from `base`, up to 15 minutes) before any login of its is
/// even looked at. A right token resets it. Guessing a 16-character token is hopeless anyway; this
/// keeps a guesser from loading the box and from filling the log.
#[derive(Clone, Debug)]
pub struct LoginBackoff {
    base: Duration,
    peers: Arc<Mutex<HashMap<Option<IpAddr>, Failures>>>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    until: Option<Instant>,
}

/// What a failed login did to its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed {
    /// Wrong tokens in a row from this peer.
    pub count: u32,
    /// How long it must now wait, if it must.
    pub wait: Option<Duration>,
}

impl Default for LoginBackoff {
    /// One second after the fifth wrong token, doubling from there.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl LoginBackoff {
    pub fn new(base: Duration) -> Self {
        Self { base, peers: Arc::default() }
    }

    /// How long `peer` must still wait before its login is looked at (`None`: go ahead).
    pub fn wait(&self, peer: Peer, now: Instant) -> Option<Duration> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let until = peers.get(&peer.key())?.until?;
        until.checked_duration_since(now).filter(|left| !left.is_zero())
    }

    /// A wrong token from `peer`.
    pub fn failed(&self, peer: Peer, now: Instant) -> Failed {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= PEERS_KEPT && !peers.contains_key(&peer.key()) {
            forget_quietest(&mut peers, now);
        }
        let entry = peers.entry(peer.key()).or_insert(Failures { count: 0, last: now, until: None });
        if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let wait = (entry.count >= FREE_LOGIN_FAILURES).then(|| {
            let doublings = (entry.count - FREE_LOGIN_FAILURES).min(20);
            self.base.saturating_mul(1 << doublings).min(MAX_LOGIN_WAIT)
        });
        entry.until = wait.map(|w| now + w);
        Failed { count: entry.count, wait }
    }

    /// A right token from `peer`: it starts afresh.
    pub fn succeeded(&self, peer: Peer) {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer.key());
    }

    /// Peers remembered now.
    pub fn peers(&self) -> usize {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Forgets the peers no longer waiting, or if all are, the one quiet the longest.
fn forget_quietest(peers: &mut HashMap<Option<IpAddr>, Failures>, now: Instant) {
    peers.retain(|_, f| f.until.is_some_and(|until| until > now));
    if peers.len() >= PEERS_KEPT
        && let Some(quietest) = peers.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k)
    {
        peers.remove(&quietest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> Peer {
        Peer(Some(text.parse().unwrap()))
    }

    #[test]
    fn streams_are_capped_per_peer_and_in_all_and_freed_when_dropped() {
        let slots = StreamSlots::new(5, 2);
        let a1 = slots.take(peer("10.0.0.1")).unwrap();
        let _a2 = slots.take(peer("10.0.0.1")).unwrap();
        assert!(slots.take(peer("10.0.0.1")).is_none(), "a third stream of one peer");
        drop(a1);
        let _a3 = slots.take(peer("10.0.0.1")).expect("a freed slot is taken again");
        let _b: Vec<_> = ["10.0.0.2", "10.0.0.3", "10.0.0.4"].iter().map(|p| slots.take(peer(p)).unwrap()).collect();
        assert_eq!(slots.open(), 5);
        assert!(slots.take(peer("10.0.0.5")).is_none(), "past the total");
    }

    #[test]
    fn one_ipv6_host_is_one_peer_whatever_address_of_its_64_it_uses() {
        let slots = StreamSlots::new(64, 1);
        let _held = slots.take(peer("2001:db8:1:2::1")).unwrap();
        assert!(slots.take(peer("2001:db8:1:2:ffff::9")).is_none());
        assert!(slots.take(peer("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn logins_wait_twice_as_long_after_each_failure_past_the_free_ones_and_a_success_resets() {
        let backoff = LoginBackoff::new(Duration::from_secs(1));
        let (guesser, other) = (peer("10.0.0.9"), peer("10.0.0.10"));
        let start = Instant::now();
        for n in 1..FREE_LOGIN_FAILURES {
            assert_eq!(backoff.failed(guesser, start), Failed { count: n, wait: None });
            assert_eq!(backoff.wait(guesser, start), None);
        }
        assert_eq!(backoff.failed(guesser, start).wait, Some(Duration::from_secs(1)));
        assert_eq!(backoff.wait(guesser, start), Some(Duration::from_secs(1)));
        assert_eq!(backoff.wait(other, start), None, "another peer is not held up");
        let later = start + Duration::from_secs(1);
        assert_eq!(backoff.wait(guesser, later), None);
        assert_eq!(backoff.failed(guesser, later).wait, Some(Duration::from_secs(2)));
        assert_eq!(backoff.failed(guesser, later).wait, Some(Duration::from_secs(4)));
        for _ in 0..40 {
            backoff.failed(guesser, later);
        }
        assert_eq!(backoff.wait(guesser, later), Some(MAX_LOGIN_WAIT));
        // An hour after the last wrong token, a wrong one is one of the free ones again.
        let next_day = later + FORGET_AFTER;
        assert_eq!(backoff.failed(guesser, next_day), Failed { count: 1, wait: None });
        backoff.succeeded(guesser);
        assert_eq!(backoff.wait(guesser, later), None);
    }

    #[test]
    fn the_peers_remembered_are_bounded() {
        let backoff = LoginBackoff::new(Duration::from_secs(1));
        let now = Instant::now();
        for i in 0..(PEERS_KEPT as u32 + 100) {
            backoff.failed(Peer(Some(IpAddr::from(std::net::Ipv4Addr::from(i)))), now);
        }
        assert!(backoff.peers() <= PEERS_KEPT, "{} peers kept", backoff.peers());
    }
}
