//! What the Redis backplane stores and publishes, and the Lua scripts that keep a realm's log
//! consistent. Every key of a realm shares the realm's hash tag, so each script runs on one
//! shard of a cluster.
//!
//! A log record (stream entry field `e`, and the payload published on the log channel):
//! `<epoch>\n<seq>\n<pod>\n<entry bytes>`. `seq` counts from 1 within an epoch; an epoch is
//! a random name the first append after the log was created (or lost) gives it.
//!
//! A pod inbox message: `<from pod: u64 BE>` then frames, each `<len: u32 BE><frame>`.
//!
//! A snapshot (hash field `snap`): entries, each `<len: u32 BE><entry>`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use junction_backplane::PodId;
use redis::{Script, Value};

/// Append one entry: number it, keep it in the stream, publish it on the log channel.
/// KEYS: meta hash, stream, log channel. ARGV: pod, epoch to use if this starts a log,
/// entry, stream length cap, PUBLISH or SPUBLISH. Returns the entry's seq.
pub(super) const APPEND: &str = include_str!("append.lua");

/// The realm's state for a pod that starts following it: the epoch, the newest snapshot and
/// every record after it, read at one instant. KEYS: meta hash, stream.
/// Returns `{epoch or '', snapshot seq, snapshot or '', {{id, {'e', record}}, ...}}`.
pub(super) const READ: &str = include_str!("read.lua");

/// Keep a snapshot taken at `seq` (unless a newer one is there or the epoch changed) and
/// trim the stream to the records after `seq - slack`. KEYS: meta hash, stream. ARGV: epoch,
/// seq, snapshot, slack. Returns 1 when stored.
pub(super) const SNAPSHOT: &str = include_str!("snapshot.lua");

/// Refresh this pod's heartbeat, on Redis's clock. KEYS: live set, since. ARGV: pod, ttl in
/// ms. `since` marks when the live set started (again): pods that have not yet had a chance
/// to beat into a fresh set must not be taken for dead.
pub(super) const HEARTBEAT: &str = include_str!("heartbeat.lua");

/// The pods whose heartbeat is current, and for how long (ms) the live set has existed
/// (-1: it does not). KEYS: live set, since.
pub(super) const LIVE: &str = include_str!("live.lua");

pub(super) struct Scripts {
    pub append: Script,
    pub read: Script,
    pub snapshot: Script,
    pub heartbeat: Script,
    pub live: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            append: Script::new(APPEND),
            read: Script::new(READ),
            snapshot: Script::new(SNAPSHOT),
            heartbeat: Script::new(HEARTBEAT),
            live: Script::new(LIVE),
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    pub epoch: Bytes,
    pub seq: u64,
    pub pod: PodId,
    pub entry: Bytes,
}

impl Record {
    pub fn parse(record: Bytes) -> Option<Record> {
        let mut fields = [Bytes::new(), Bytes::new(), Bytes::new()];
        let mut rest = record;
        for field in &mut fields {
            let at = rest.iter().position(|b| *b == b'\n')?;
            *field = rest.split_to(at);
            rest.advance(1);
        }
        let [epoch, seq, pod] = fields;
        let number = |b: &Bytes| std::str::from_utf8(b).ok()?.parse::<u64>().ok();
        Some(Record { seq: number(&seq)?, pod: number(&pod)?, epoch, entry: rest })
    }
}

/// What [`READ`] returned.
#[derive(Debug, Default)]
pub(super) struct RealmState {
    /// Empty: no log yet.
    pub epoch: Bytes,
    pub snapshot_seq: u64,
    pub snapshot: Vec<Bytes>,
    pub records: Vec<Record>,
}

impl RealmState {
    pub fn parse(value: Value) -> Result<RealmState, String> {
        let Value::Array(parts) = value else { return Err(format!("unexpected read reply {value:?}")) };
        let [epoch, seq, snap, records]: [Value; 4] = parts.try_into().map_err(|p| format!("unexpected read reply {p:?}"))?;
        let snapshot_seq = std::str::from_utf8(&bulk(seq)?).ok().and_then(|s| s.parse().ok()).ok_or("bad snapshot seq")?;
        let snapshot = split_frames(Bytes::from(bulk(snap)?)).ok_or("corrupt snapshot")?;
        Ok(RealmState { epoch: Bytes::from(bulk(epoch)?), snapshot_seq, snapshot, records: parse_records(records)? })
    }
}

fn bulk(v: Value) -> Result<Vec<u8>, String> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Okay => Ok(b"OK".to_vec()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => Err(format!("expected a string, got {other:?}")),
    }
}

/// XRANGE's reply: `[[id, [field, value, ...]], ...]`, the record in field `e`.
pub(super) fn parse_records(value: Value) -> Result<Vec<Record>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Nil => return Ok(Vec::new()),
        other => return Err(format!("unexpected XRANGE reply {other:?}")),
    };
    let mut records = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut pair) = item else { return Err("unexpected stream entry".into()) };
        let fields = match pair.pop() {
            Some(Value::Array(f)) => f,
            Some(Value::Map(m)) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            other => return Err(format!("unexpected stream entry fields {other:?}")),
        };
        let mut fields = fields.into_iter();
        while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
            if bulk(name)? == b"e" {
                let record = Record::parse(Bytes::from(bulk(value)?)).ok_or("corrupt log record")?;
                records.push(record);
            }
        }
    }
    Ok(records)
}

/// `<len><bytes>` frames one after the other.
pub(super) fn join_frames<'a>(frames: impl IntoIterator<Item = &'a Bytes>) -> Bytes {
    let mut out = BytesMut::new();
    for f in frames {
        put_frame(&mut out, f);
    }
    out.freeze()
}

pub(super) fn put_frame(out: &mut BytesMut, frame: &[u8]) {
    out.put_u32(frame.len() as u32);
    out.put_slice(frame);
}

/// The frames of [`join_frames`], sharing `buf`'s memory; `None` when truncated.
pub(super) fn split_frames(mut buf: Bytes) -> Option<Vec<Bytes>> {
    let mut frames = Vec::new();
    while buf.has_remaining() {
        if buf.remaining() < 4 {
            return None;
        }
        let len = buf.get_u32() as usize;
        if buf.remaining() < len {
            return None;
        }
        frames.push(buf.split_to(len));
    }
    Some(frames)
}

/// A pod inbox message: the sender, then its frames.
pub(super) fn parse_inbox(mut buf: Bytes) -> Option<(PodId, Vec<Bytes>)> {
    if buf.remaining() < 8 {
        return None;
    }
    let from = buf.get_u64();
    Some((from, split_frames(buf)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let r = Record::parse(Bytes::from_static(b"ab12\n7\n42\n\x01\n\x02")).unwrap();
        assert_eq!((&r.epoch[..], r.seq, r.pod, &r.entry[..]), (&b"ab12"[..], 7, 42, &b"\x01\n\x02"[..]));
        assert!(Record::parse(Bytes::from_static(b"e\nx\n1\n")).is_none());
        assert!(Record::parse(Bytes::from_static(b"e\n1")).is_none());
    }

    #[test]
    fn frames_round_trip_and_truncation_is_detected() {
        let frames = vec![Bytes::from_static(b"one"), Bytes::new(), Bytes::from_static(b"three")];
        let joined = join_frames(&frames);
        assert_eq!(split_frames(joined.clone()).unwrap(), frames);
        assert!(split_frames(joined.slice(..joined.len() - 1)).is_none());
        let mut inbox = BytesMut::new();
        inbox.put_u64(9);
        inbox.put_slice(&joined);
        assert_eq!(parse_inbox(inbox.freeze()).unwrap(), (9, frames));
        assert!(parse_inbox(Bytes::from_static(b"short")).is_none());
    }
}
