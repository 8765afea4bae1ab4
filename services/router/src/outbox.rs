//! The bounded outbound queue between the realm (producers) and a connection's writer task.
//!
//! Producers (the session's own reader, other sessions' publishes and calls, the router)
//! push pre-encoded frames; the writer takes everything queued at once, writes it and
//! flushes once. Limits are by frame count and by bytes: when a frame does not fit, the
//! session is closed as a slow consumer (see the crate docs) instead of blocking the
//! producer or growing without bound.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// WebSocket close codes the router uses.
pub(crate) mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CloseFrame {
    pub code: u16,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// The router sent its last WAMP message (GOODBYE) and waits for the peer's answer:
    /// nothing more is queued, the reader keeps reading.
    Draining,
    /// Write what is queued, then the close frame, then stop.
    Closing(CloseFrame),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The session is closing or closed; the frame was dropped.
    Closed,
    /// The frame did not fit: the session is now being closed as a slow consumer.
    SlowConsumer,
}

struct Inner {
    queue: VecDeque<Bytes>,
    bytes: usize,
    state: State,
    /// Payload of the latest unanswered ping (RFC 6455 lets a pong answer only the latest);
    /// written before the queued frames.
    pong: Option<Bytes>,
}

pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    /// Wakes the writer: frames were queued to an empty queue, or a close was requested.
    writer_wake: Notify,
    /// Wakes the reader: the state left `Open`.
    reader_wake: Notify,
    max_messages: usize,
    max_bytes: usize,
    metrics: Arc<Metrics>,
}

/// What the writer should do next.
pub(crate) enum Next {
    /// Frames were moved into the caller's buffer.
    Frames,
    Close(CloseFrame),
}

impl Outbox {
    pub fn new(max_messages: usize, max_bytes: usize, metrics: Arc<Metrics>) -> Self {
        Outbox {
            // No preallocation: an idle session keeps an empty queue (zero heap).
            inner: Mutex::new(Inner { queue: VecDeque::new(), bytes: 0, state: State::Open, pong: None }),
            writer_wake: Notify::new(),
            reader_wake: Notify::new(),
            max_messages,
            max_bytes,
            metrics,
        }
    }

    /// Queue one frame. Never blocks; on overflow the session is closed (slow consumer).
    pub fn send(&self, frame: Bytes) -> Result<(), SendError> {
        let mut inner = self.inner.lock();
        if inner.state != State::Open {
            return Err(SendError::Closed);
        }
        if inner.queue.len() >= self.max_messages || inner.bytes + frame.len() > self.max_bytes {
            inner.queue = VecDeque::new();
            inner.bytes = 0;
            inner.state = State::Closing(CloseFrame { code: close_code::POLICY, reason: "slow consumer" });
            drop(inner);
            self.metrics.slow_consumer_closes.inc();
            self.writer_wake.notify_one();
            self.reader_wake.notify_one();
            return Err(SendError::SlowConsumer);
        }
        let was_empty = inner.queue.is_empty();
        inner.bytes += frame.len();
        inner.queue.push_back(frame);
        drop(inner);
        // The writer drains the whole queue whenever it wakes, so only the empty -> non-empty
        // transition needs a wake-up (Notify keeps a permit if the writer is not waiting yet).
        if was_empty {
            self.writer_wake.notify_one();
        }
        Ok(())
    }

    /// Queue the router's last WAMP message (GOODBYE) regardless of limits and stop
    /// accepting frames; the reader then waits for the peer's GOODBYE.
    pub fn send_final(&self, frame: Bytes) -> bool {
        let mut inner = self.inner.lock();
        if inner.state != State::Open {
            return false;
        }
        let was_empty = inner.queue.is_empty();
        inner.bytes += frame.len();
        inner.queue.push_back(frame);
        inner.state = State::Draining;
        drop(inner);
        if was_empty {
            self.writer_wake.notify_one();
        }
        self.reader_wake.notify_one();
        true
    }

    /// Queue an optional last frame (ABORT, GOODBYE reply), then the WebSocket close.
    /// The first close wins; later ones are ignored.
    pub fn close(&self, last: Option<Bytes>, code: u16, reason: &'static str) {
        let mut inner = self.inner.lock();
        if matches!(inner.state, State::Closing(_)) {
            return;
        }
        if let Some(frame) = last {
            inner.bytes += frame.len();
            inner.queue.push_back(frame);
        }
        inner.state = State::Closing(CloseFrame { code, reason });
        drop(inner);
        self.writer_wake.notify_one();
        self.reader_wake.notify_one();
    }

    /// Queue a pong answering the peer's ping (control frame: outside the queue limits,
    /// at most one pending, payload at most 125 bytes as the reader enforces).
    pub fn send_pong(&self, payload: Bytes) {
        let mut inner = self.inner.lock();
        if matches!(inner.state, State::Closing(_)) {
            return;
        }
        let wake = inner.queue.is_empty() && inner.pong.is_none();
        inner.pong = Some(payload);
        drop(inner);
        if wake {
            self.writer_wake.notify_one();
        }
    }

    /// Take everything queued, synchronously (tests).
    #[cfg(test)]
    pub fn take_queued(&self) -> VecDeque<Bytes> {
        let mut inner = self.inner.lock();
        inner.bytes = 0;
        std::mem::take(&mut inner.queue)
    }

    pub fn state(&self) -> State {
        self.inner.lock().state
    }

    /// Writer side: wait for frames or a close. Cancel-safe (frames are moved synchronously).
    pub async fn next(&self, buf: &mut VecDeque<Bytes>, pong: &mut Option<Bytes>) -> Next {
        loop {
            {
                let mut inner = self.inner.lock();
                if !inner.queue.is_empty() || inner.pong.is_some() {
                    // Swap, so the producers keep a (possibly preallocated) empty buffer.
                    std::mem::swap(&mut inner.queue, buf);
                    inner.bytes = 0;
                    *pong = inner.pong.take();
                    return Next::Frames;
                }
                if let State::Closing(frame) = inner.state {
                    return Next::Close(frame);
                }
            }
            self.writer_wake.notified().await;
        }
    }

    /// Reader side: resolves once the state is no longer `Open`.
    pub async fn left_open(&self) -> State {
        loop {
            let state = self.state();
            if state != State::Open {
                return state;
            }
            self.reader_wake.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(msgs: usize, bytes: usize) -> Outbox {
        Outbox::new(msgs, bytes, Arc::new(Metrics::default()))
    }

    #[tokio::test]
    async fn frames_come_out_in_order_as_one_batch() {
        let o = outbox(10, 1000);
        o.send(Bytes::from_static(b"a")).unwrap();
        o.send(Bytes::from_static(b"b")).unwrap();
        let mut buf = VecDeque::new();
        assert!(matches!(o.next(&mut buf, &mut None).await, Next::Frames));
        assert_eq!(buf, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    }

    #[tokio::test]
    async fn overflow_by_count_or_bytes_closes_as_slow_consumer() {
        let o = outbox(2, 1000);
        o.send(Bytes::from_static(b"a")).unwrap();
        o.send(Bytes::from_static(b"b")).unwrap();
        assert_eq!(o.send(Bytes::from_static(b"c")), Err(SendError::SlowConsumer));
        assert_eq!(o.send(Bytes::from_static(b"d")), Err(SendError::Closed));
        let mut buf = VecDeque::new();
        // Queued frames are dropped: the close goes out at once.
        assert!(matches!(o.next(&mut buf, &mut None).await, Next::Close(CloseFrame { code: 1008, .. })));
        assert_eq!(o.metrics.slow_consumer_closes.get(), 1);

        let o = outbox(100, 10);
        o.send(Bytes::from_static(b"12345678")).unwrap();
        assert_eq!(o.send(Bytes::from_static(b"123")), Err(SendError::SlowConsumer));
    }

    #[tokio::test]
    async fn close_drains_queue_first() {
        let o = outbox(10, 1000);
        o.send(Bytes::from_static(b"a")).unwrap();
        o.close(Some(Bytes::from_static(b"abort")), 1000, "bye");
        let mut buf = VecDeque::new();
        assert!(matches!(o.next(&mut buf, &mut None).await, Next::Frames));
        assert_eq!(buf.len(), 2);
        buf.clear();
        assert!(matches!(o.next(&mut buf, &mut None).await, Next::Close(_)));
        assert!(matches!(o.left_open().await, State::Closing(_)));
    }
}
