//! The bounded outbound queue between the realm (producers) and a connection's writer task.
//!
//! Producers (the session's own reader, other sessions' publishes and calls, the router)
//! push pre-encoded frames; the writer takes everything queued at once, writes it and
//! flushes once. Limits are by frame count and by bytes: when a frame does not fit, the
//! session is closed as a slow consumer (see the crate docs) instead of blocking the
//! producer or growing without bound.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;

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
    /// The writer task, parked until frames are queued to an empty queue or a close is
    /// requested. One waker slot per side (each side is one task), checked and set under
    /// this lock, so no wake-up is lost: cheaper than a `Notify` (no waiter list, no
    /// registration and removal per wait).
    writer: Option<Waker>,
    /// The reader task, parked until the state leaves `Open`.
    reader: Option<Waker>,
}

/// Park `cx`'s task in `slot` (cloning its waker only when it changed).
fn park(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

pub(crate) struct Outbox {
    inner: Mutex<Inner>,
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
            inner: Mutex::new(Inner { queue: VecDeque::new(), bytes: 0, state: State::Open, pong: None, writer: None, reader: None }),
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
            let (writer, reader) = (inner.writer.take(), inner.reader.take());
            drop(inner);
            self.metrics.slow_consumer_closes.inc();
            wake(writer);
            wake(reader);
            return Err(SendError::SlowConsumer);
        }
        // The writer drains the whole queue whenever it wakes, so only the empty -> non-empty
        // transition needs a wake-up (a writer that is running checks the queue, under this
        // lock, before it parks again).
        let writer = if inner.queue.is_empty() { inner.writer.take() } else { None };
        inner.bytes += frame.len();
        inner.queue.push_back(frame);
        drop(inner);
        wake(writer);
        Ok(())
    }

    /// Queue the router's last WAMP message (GOODBYE) regardless of limits and stop
    /// accepting frames; the reader then waits for the peer's GOODBYE.
    pub fn send_final(&self, frame: Bytes) -> bool {
        let mut inner = self.inner.lock();
        if inner.state != State::Open {
            return false;
        }
        let writer = if inner.queue.is_empty() { inner.writer.take() } else { None };
        inner.bytes += frame.len();
        inner.queue.push_back(frame);
        inner.state = State::Draining;
        let reader = inner.reader.take();
        drop(inner);
        wake(writer);
        wake(reader);
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
        let (writer, reader) = (inner.writer.take(), inner.reader.take());
        drop(inner);
        wake(writer);
        wake(reader);
    }

    /// Queue a pong answering the peer's ping (control frame: outside the queue limits,
    /// at most one pending, payload at most 125 bytes as the reader enforces).
    pub fn send_pong(&self, payload: Bytes) {
        let mut inner = self.inner.lock();
        if matches!(inner.state, State::Closing(_)) {
            return;
        }
        let writer = if inner.queue.is_empty() && inner.pong.is_none() { inner.writer.take() } else { None };
        inner.pong = Some(payload);
        drop(inner);
        wake(writer);
    }

    /// Take everything queued, synchronously (tests).
    #[cfg(test)]
    pub fn take_queued(&self) -> VecDeque<Bytes> {
        let mut inner = self.inner.lock();
        inner.bytes = 0;
        std::mem::take(&mut inner.queue)
    }

    /// Writer side: frames or a close, or park the writer (one task) until there are.
    /// Frames are moved synchronously, so dropping the poll loop loses nothing.
    pub fn poll_next(&self, cx: &Context<'_>, buf: &mut VecDeque<Bytes>, pong: &mut Option<Bytes>) -> Poll<Next> {
        let mut inner = self.inner.lock();
        if !inner.queue.is_empty() || inner.pong.is_some() {
            // Swap, so the producers keep a (possibly preallocated) empty buffer.
            std::mem::swap(&mut inner.queue, buf);
            inner.bytes = 0;
            *pong = inner.pong.take();
            return Poll::Ready(Next::Frames);
        }
        if let State::Closing(frame) = inner.state {
            return Poll::Ready(Next::Close(frame));
        }
        park(&mut inner.writer, cx);
        Poll::Pending
    }

    /// Writer side: wait for frames or a close. Cancel-safe.
    #[cfg(test)]
    pub async fn next(&self, buf: &mut VecDeque<Bytes>, pong: &mut Option<Bytes>) -> Next {
        poll_fn(|cx| self.poll_next(cx, buf, pong)).await
    }

    /// Reader side (one task): resolves once the state is no longer `Open`.
    pub async fn left_open(&self) -> State {
        poll_fn(|cx| {
            let mut inner = self.inner.lock();
            if inner.state != State::Open {
                return Poll::Ready(inner.state);
            }
            park(&mut inner.reader, cx);
            Poll::Pending
        })
        .await
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
