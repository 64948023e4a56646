//! `GET /api/events`: the console's live stream (server-sent events). Each time the picture or
//! the incidents change (the feed bumps a [`Changes`] counter), an event `change` goes out, at
//! most one every [`CHECK_EVERY`]; the page then reads `/api/nodes` and `/api/alerts` again.
//! A comment every 15 s keeps proxies from closing an idle stream.
//!
//! Streams are capped ([`StreamSlots`]): [`MAX_STREAMS`] in all, [`MAX_PER_PEER`] per address;
//! past that 503 with `Retry-After: 10`, as on the node.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

/// Streams open at once.
pub const MAX_STREAMS: usize = 64;
/// Streams open at once from one address.
pub const MAX_PER_PEER: usize = 4;
/// How often a stream looks for a change.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// A counter of changes, bumped by the feed, watched by the streams.
#[derive(Debug, Default)]
pub struct Changes(AtomicU64);

impl Changes {
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The open streams, per address.
#[derive(Clone, Debug, Default)]
pub struct StreamSlots(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open stream's place, freed when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: StreamSlots,
    peer: IpAddr,
}

impl StreamSlots {
    /// A place for a stream of `peer`, or `None` when it or the server has all it may.
    pub fn take(&self, peer: IpAddr) -> Option<StreamSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (total, mine) = (open.values().sum::<usize>(), open.get(&peer).copied().unwrap_or(0));
        if total >= MAX_STREAMS || mine >= MAX_PER_PEER {
            return None;
        }
        open.insert(peer, mine + 1);
        Some(StreamSlot { slots: self.clone(), peer })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

/// The stream of `changes` for `peer`, or 503 when there is no place for it.
pub fn stream(changes: Arc<Changes>, slots: &StreamSlots, peer: SocketAddr) -> Response {
    let Some(slot) = slots.take(peer.ip()) else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "10")], "too many event streams open\n")
            .into_response();
    };
    Sse::new(events(changes, slot)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// `change` each time the counter moved (the first at once, so a page knows it is live).
fn events(changes: Arc<Changes>, slot: StreamSlot) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((changes, None::<u64>, slot), |(changes, seen, slot)| async move {
        loop {
            let now = changes.now();
            if seen != Some(now) {
                let event = Event::default().event("change").data(now.to_string());
                return Some((Ok(event), (changes, Some(now), slot)));
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_per_peer_and_in_all() {
        let slots = StreamSlots::default();
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let mine: Vec<_> = (0..MAX_PER_PEER).map(|_| slots.take(one).unwrap()).collect();
        assert!(slots.take(one).is_none());
        drop(mine);
        assert!(slots.take(one).is_some(), "freed when the streams end");
        let all: Vec<_> = (0..MAX_STREAMS)
            .map(|i| slots.take(IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8])).unwrap())
            .collect();
        assert!(slots.take("10.9.9.9".parse().unwrap()).is_none());
        drop(all);
    }
}
