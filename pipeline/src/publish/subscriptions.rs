//! [`Subscriptions`]: the node's topic filters on one connection, subscribed one at a time.
//!
//! A message over [`MAX_INCOMING_PACKET`](super::MAX_INCOMING_PACKET) ends the connection (rumqttc
//! cannot skip it) without saying on which topic it came. Most likely it is retained, and comes
//! right after the SUBACK of the filter that matches it. So filters are subscribed one after the
//! other, [`SETTLE`] apart: a message too large within [`SETTLE`] of a subscription is blamed on
//! that filter alone, which pauses for the hold-off while the others are subscribed again at once.
//! After the pause the filter is subscribed again, so the broker sends its retained message again:
//! a genuine command that replaced the huge one in the meantime is read then. A message too large
//! at any other time (a live one) cannot be placed, and pauses every filter.
//!
//! Limits: one filter per building (not a wildcard) isolates one building's topic; a live huge
//! message that happens to arrive within [`SETTLE`] of a subscription is blamed on that filter,
//! whose commands then wait for the hold-off.
//!
//! ```text
//!  connected ──► subscribe the next filter not held ──► SETTLE passed ──► the next …
//!                     │ too large within SETTLE              (all subscribed: idle)
//!                     ▼
//!            that filter held for the hold-off; reconnect; the others again at once
//! ```

use std::time::{Duration, Instant};

/// How long after a subscription a message too large is blamed on it: retained messages follow
/// the SUBACK at once.
pub(super) const SETTLE: Duration = Duration::from_secs(1);

/// What a message too large was blamed on, and whether that is news for the log.
#[derive(Debug, PartialEq)]
pub(super) enum Blamed {
    /// The filter subscribed just before: it alone pauses.
    Filter { topic: String, first: bool },
    /// No subscription just before: every filter pauses.
    All { first: bool },
}

#[derive(Debug)]
struct Filter {
    topic: String,
    /// Subscribed on this connection.
    subscribed: bool,
    held_until: Option<Instant>,
    /// A message too large was logged for it.
    logged: bool,
}

/// The filters of one broker and their state on the current connection.
#[derive(Debug)]
pub(super) struct Subscriptions {
    filters: Vec<Filter>,
    /// The filter subscribed last, and when.
    probing: Option<(usize, Instant)>,
    hold_off: Duration,
    all_logged: bool,
}

impl Subscriptions {
    pub(super) fn new(topics: &[String], hold_off: Duration) -> Self {
        let filters = topics
            .iter()
            .map(|topic| Filter { topic: topic.clone(), subscribed: false, held_until: None, logged: false })
            .collect();
        Self { filters, probing: None, hold_off, all_logged: false }
    }

    /// A new connection (clean session): nothing is subscribed.
    pub(super) fn connected(&mut self) {
        for filter in &mut self.filters {
            filter.subscribed = false;
        }
        self.probing = None;
    }

    /// The filter to subscribe at `now`, if one is due (marked subscribed).
    pub(super) fn next(&mut self, now: Instant) -> Option<String> {
        if self.probing.is_some_and(|(_, at)| now.saturating_duration_since(at) < SETTLE) {
            return None;
        }
        self.probing = None;
        let (index, filter) = self
            .filters
            .iter_mut()
            .enumerate()
            .find(|(_, f)| !f.subscribed && f.held_until.is_none_or(|until| now >= until))?;
        filter.subscribed = true;
        filter.held_until = None;
        self.probing = Some((index, now));
        Some(filter.topic.clone())
    }

    /// The broker sent a message too large to read at `now` (the connection is lost).
    pub(super) fn too_large(&mut self, now: Instant) -> Blamed {
        let until = Some(now + self.hold_off);
        match self.probing.take().filter(|(_, at)| now.saturating_duration_since(*at) < SETTLE) {
            Some((index, _)) => {
                let filter = &mut self.filters[index];
                filter.held_until = until;
                let first = !std::mem::replace(&mut filter.logged, true);
                Blamed::Filter { topic: filter.topic.clone(), first }
            }
            None => {
                for filter in &mut self.filters {
                    filter.held_until = until;
                }
                Blamed::All { first: !std::mem::replace(&mut self.all_logged, true) }
            }
        }
    }

    pub(super) fn topics(&self) -> Vec<&str> {
        self.filters.iter().map(|f| f.topic.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Subscriptions {
        Subscriptions::new(&["a".into(), "b".into()], Duration::from_secs(600))
    }

    #[test]
    fn filters_are_subscribed_one_at_a_time_settle_apart() {
        let mut subs = two();
        let t = Instant::now();
        subs.connected();
        assert_eq!(subs.next(t).as_deref(), Some("a"));
        assert_eq!(subs.next(t + SETTLE / 2), None);
        assert_eq!(subs.next(t + SETTLE).as_deref(), Some("b"));
        assert_eq!(subs.next(t + SETTLE * 3), None, "all subscribed");
        subs.connected();
        assert_eq!(subs.next(t + SETTLE * 4).as_deref(), Some("a"), "again after a reconnect");
    }

    #[test]
    fn a_message_too_large_right_after_a_subscription_holds_that_filter_only_until_the_hold_off() {
        let mut subs = two();
        let t = Instant::now();
        subs.connected();
        assert_eq!(subs.next(t).as_deref(), Some("a"));
        assert_eq!(subs.too_large(t + SETTLE / 4), Blamed::Filter { topic: "a".into(), first: true });
        subs.connected();
        assert_eq!(subs.next(t + SETTLE).as_deref(), Some("b"), "the other filter at once");
        assert_eq!(subs.next(t + SETTLE * 3), None, "a is held");
        // After the hold-off it is subscribed again, so its retained message is read again.
        assert_eq!(subs.next(t + Duration::from_secs(601)).as_deref(), Some("a"));
        assert_eq!(subs.too_large(t + Duration::from_secs(601)), Blamed::Filter { topic: "a".into(), first: false });
    }

    #[test]
    fn a_message_too_large_out_of_the_blue_holds_every_filter() {
        let mut subs = two();
        let t = Instant::now();
        subs.connected();
        subs.next(t);
        subs.next(t + SETTLE);
        assert_eq!(subs.too_large(t + SETTLE * 5), Blamed::All { first: true });
        subs.connected();
        assert_eq!(subs.next(t + SETTLE * 6), None);
        assert_eq!(subs.next(t + Duration::from_secs(606)).as_deref(), Some("a"));
    }
}
