//! The hot-path WAMP parsing and writing of the load generator, for all three serializers.
//!
//! A subscriber receiving a million EVENTs a second cannot afford to build a `Value`
//! tree per message, so the bench reads only what it needs straight from the encoded
//! bytes: the message type, the ids, and the first two integers of `Arguments|list`
//! (sequence number and send timestamp). It skips everything else without decoding it.
//! The callee echoes `Arguments|list` back in its YIELD as raw bytes, and callers stamp
//! the request id into a pre-encoded CALL. Everything that is not on the hot path
//! (HELLO, WELCOME, SUBSCRIBE, ERROR, ...) goes through `junction_protocol::codec`.
//!
//! All functions are panic-free on any input: malformed input gives `None`.

use std::ops::Range;

/// The three WAMP serializations (mirrors `junction_protocol::codec::Serializer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    MsgPack,
    Cbor,
}

/// Nesting limit when skipping values, so hostile input cannot overflow the stack.
const MAX_DEPTH: u32 = 64;

/// The most elements `split_array` records.
pub const MAX_ELEMS: usize = 8;

/// Byte ranges of the first elements of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elems {
    ranges: [(usize, usize); MAX_ELEMS],
    len: usize,
    /// Where the element after the last recorded one starts, when the array has more.
    next: Option<usize>,
}

impl Elems {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn get(&self, i: usize) -> Option<Range<usize>> {
        (i < self.len).then(|| self.ranges[i].0..self.ranges[i].1)
    }
    /// Start of the element after the recorded ones, if the array goes on.
    pub fn next_start(&self) -> Option<usize> {
        self.next
    }
}

/// Splits the array at the start of `buf` into the byte ranges of its first `max`
/// (at most [`MAX_ELEMS`]) elements. Elements after those are not scanned.
pub fn split_array(buf: &[u8], fmt: Format, max: usize) -> Option<Elems> {
    let max = max.min(MAX_ELEMS);
    let mut e = Elems { ranges: [(0, 0); MAX_ELEMS], len: 0, next: None };
    match fmt {
        Format::Json => {
            let mut i = json_ws(buf, 0);
            if *buf.get(i)? != b'[' {
                return None;
            }
            i = json_ws(buf, i + 1);
            if *buf.get(i)? == b']' {
                return Some(e);
            }
            loop {
                if e.len == max {
                    e.next = Some(i);
                    return Some(e);
                }
                let end = json_skip(buf, i, 0)?;
                e.ranges[e.len] = (i, end);
                e.len += 1;
                let j = json_ws(buf, end);
                match *buf.get(j)? {
                    b',' => i = json_ws(buf, j + 1),
                    b']' => return Some(e),
                    _ => return None,
                }
            }
        }
        Format::MsgPack => {
            let (n, mut i) = mp_array_head(buf, 0)?;
            for k in 0..n {
                if e.len == max {
                    e.next = (k < n).then_some(i);
                    return Some(e);
                }
                let end = mp_skip(buf, i, 0)?;
                e.ranges[e.len] = (i, end);
                e.len += 1;
                i = end;
            }
            Some(e)
        }
        Format::Cbor => {
            let h = cbor_head(buf, 0)?;
            if h.major != 4 {
                return None;
            }
            let mut i = h.next;
            let mut k: u64 = 0;
            loop {
                let at_end = match h.arg {
                    Some(n) => k == n,
                    None => *buf.get(i)? == 0xff,
                };
                if at_end {
                    return Some(e);
                }
                if e.len == max {
                    e.next = Some(i);
                    return Some(e);
                }
                let end = cbor_skip(buf, i, 0)?;
                e.ranges[e.len] = (i, end);
                e.len += 1;
                i = end;
                k += 1;
            }
        }
    }
}

/// Reads a non-negative integer that is the whole of `buf` (leading/trailing JSON
/// whitespace allowed). Floats, negatives and anything else give `None`.
pub fn parse_uint(buf: &[u8], fmt: Format) -> Option<u64> {
    match fmt {
        Format::Json => {
            let s = buf.trim_ascii();
            if s.is_empty() || s.len() > 20 {
                return None;
            }
            let mut v: u64 = 0;
            for &c in s {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            }
            Some(v)
        }
        Format::MsgPack => {
            let b = *buf.first()?;
            let be = |n: usize| -> Option<u64> {
                let s = buf.get(1..1 + n)?;
                Some(s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
            };
            let v = match b {
                0x00..=0x7f => return (buf.len() == 1).then_some(u64::from(b)),
                0xcc => be(1)?,
                0xcd => be(2)?,
                0xce => be(4)?,
                0xcf => be(8)?,
                // signed encodings of non-negative values
                0xd0 => be(1).filter(|v| *v < 0x80)?,
                0xd1 => be(2).filter(|v| *v < 0x8000)?,
                0xd2 => be(4).filter(|v| *v < 0x8000_0000)?,
                0xd3 => be(8).filter(|v| *v < 0x8000_0000_0000_0000)?,
                _ => return None,
            };
            Some(v)
        }
        Format::Cbor => {
            let h = cbor_head(buf, 0)?;
            if h.major == 0 { h.arg } else { None }
        }
    }
}

/// The message type code of an encoded WAMP message.
pub fn message_type(buf: &[u8], fmt: Format) -> Option<u64> {
    let e = split_array(buf, fmt, 1)?;
    parse_uint(&buf[e.get(0)?], fmt)
}

/// What the bench needs from an EVENT: `[36, Subscription, Publication, Details, [seq, ts, ...]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHead {
    pub subscription: u64,
    pub publication: u64,
    pub seq: u64,
    pub ts: u64,
}

/// Parses an EVENT whose arguments start with two integers. `None` for any other message.
pub fn parse_event(buf: &[u8], fmt: Format) -> Option<EventHead> {
    let e = split_array(buf, fmt, 4)?;
    if parse_uint(&buf[e.get(0)?], fmt)? != 36 {
        return None;
    }
    let subscription = parse_uint(&buf[e.get(1)?], fmt)?;
    let publication = parse_uint(&buf[e.get(2)?], fmt)?;
    let args = buf.get(e.next_start()?..)?;
    let a = split_array(args, fmt, 2)?;
    Some(EventHead {
        subscription,
        publication,
        seq: parse_uint(&args[a.get(0)?], fmt)?,
        ts: parse_uint(&args[a.get(1)?], fmt)?,
    })
}

/// Parses `[<code>, Request|id, ...]` (RESULT, ERROR's request is element 2, see below):
/// returns the type code and the id in element 1.
pub fn parse_type_and_id(buf: &[u8], fmt: Format) -> Option<(u64, u64)> {
    let e = split_array(buf, fmt, 2)?;
    Some((parse_uint(&buf[e.get(0)?], fmt)?, parse_uint(&buf[e.get(1)?], fmt)?))
}

/// An INVOCATION's request id and the byte range of its `Arguments|list`, if any.
pub fn parse_invocation(buf: &[u8], fmt: Format) -> Option<(u64, Option<Range<usize>>)> {
    let e = split_array(buf, fmt, 5)?;
    if parse_uint(&buf[e.get(0)?], fmt)? != 68 {
        return None;
    }
    Some((parse_uint(&buf[e.get(1)?], fmt)?, e.get(4)))
}

/// Appends an unsigned integer.
pub fn write_uint(out: &mut Vec<u8>, fmt: Format, v: u64) {
    match fmt {
        Format::Json => {
            let mut digits = [0u8; 20];
            let mut i = digits.len();
            let mut n = v;
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(&digits[i..]);
        }
        Format::MsgPack => {
            if v < 0x80 {
                out.push(v as u8);
            } else if v <= 0xff {
                out.extend_from_slice(&[0xcc, v as u8]);
            } else if v <= 0xffff {
                out.push(0xcd);
                out.extend_from_slice(&(v as u16).to_be_bytes());
            } else if v <= 0xffff_ffff {
                out.push(0xce);
                out.extend_from_slice(&(v as u32).to_be_bytes());
            } else {
                out.push(0xcf);
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        Format::Cbor => cbor_write_head(out, 0, v),
    }
}

fn cbor_write_head(out: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    if v < 24 {
        out.push(m | v as u8);
    } else if v <= 0xff {
        out.extend_from_slice(&[m | 24, v as u8]);
    } else if v <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends `YIELD [70, Request|id, {}, Arguments|list]` with `args` copied verbatim (already
/// encoded in `fmt`), or `[70, Request|id, {}]` without arguments.
pub fn write_yield(out: &mut Vec<u8>, fmt: Format, request: u64, args: Option<&[u8]>) {
    match fmt {
        Format::Json => {
            out.extend_from_slice(b"[70,");
            write_uint(out, fmt, request);
            out.extend_from_slice(b",{}");
            if let Some(a) = args {
                out.push(b',');
                out.extend_from_slice(a);
            }
            out.push(b']');
        }
        Format::MsgPack => {
            out.push(if args.is_some() { 0x94 } else { 0x93 });
            out.push(70);
            write_uint(out, fmt, request);
            out.push(0x80);
            if let Some(a) = args {
                out.extend_from_slice(a);
            }
        }
        Format::Cbor => {
            out.push(if args.is_some() { 0x84 } else { 0x83 });
            out.extend_from_slice(&[0x18, 70]);
            write_uint(out, fmt, request);
            out.push(0xa0);
            if let Some(a) = args {
                out.extend_from_slice(a);
            }
        }
    }
}

/// A pre-encoded message whose element 1 (the request id) is stamped per send:
/// `prefix ++ id ++ suffix`. Built from any encoding of the message by the codec.
#[derive(Debug, Clone)]
pub struct IdTemplate {
    fmt: Format,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl IdTemplate {
    pub fn new(encoded: &[u8], fmt: Format) -> Option<Self> {
        let e = split_array(encoded, fmt, 2)?;
        let id = e.get(1)?;
        Some(IdTemplate { fmt, prefix: encoded[..id.start].to_vec(), suffix: encoded[id.end..].to_vec() })
    }

    pub fn render(&self, out: &mut Vec<u8>, id: u64) {
        out.extend_from_slice(&self.prefix);
        write_uint(out, self.fmt, id);
        out.extend_from_slice(&self.suffix);
    }
}

// ---------------------------------------------------------------- JSON

fn json_ws(buf: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = buf.get(i) {
        i += 1;
    }
    i
}

fn json_skip_string(buf: &[u8], mut i: usize) -> Option<usize> {
    i += 1; // opening quote
    loop {
        match *buf.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// End of the JSON value starting at `i`.
fn json_skip(buf: &[u8], i: usize, depth: u32) -> Option<usize> {
    match *buf.get(i)? {
        b'"' => json_skip_string(buf, i),
        open @ (b'[' | b'{') => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let close = if open == b'[' { b']' } else { b'}' };
            let mut j = json_ws(buf, i + 1);
            if *buf.get(j)? == close {
                return Some(j + 1);
            }
            loop {
                if open == b'{' {
                    if *buf.get(j)? != b'"' {
                        return None;
                    }
                    j = json_ws(buf, json_skip_string(buf, j)?);
                    if *buf.get(j)? != b':' {
                        return None;
                    }
                    j = json_ws(buf, j + 1);
                }
                j = json_ws(buf, json_skip(buf, j, depth + 1)?);
                match *buf.get(j)? {
                    b',' => j = json_ws(buf, j + 1),
                    c if c == close => return Some(j + 1),
                    _ => return None,
                }
            }
        }
        b't' => buf.get(i..i + 4).filter(|s| *s == b"true").map(|_| i + 4),
        b'f' => buf.get(i..i + 5).filter(|s| *s == b"false").map(|_| i + 5),
        b'n' => buf.get(i..i + 4).filter(|s| *s == b"null").map(|_| i + 4),
        b'-' | b'0'..=b'9' => {
            let mut j = i + 1;
            while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = buf.get(j) {
                j += 1;
            }
            Some(j)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- MessagePack

fn be_uint(buf: &[u8], i: usize, n: usize) -> Option<u64> {
    let s = buf.get(i..i.checked_add(n)?)?;
    Some(s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// Element count and position after the header of the array at `i`.
fn mp_array_head(buf: &[u8], i: usize) -> Option<(u64, usize)> {
    match *buf.get(i)? {
        b @ 0x90..=0x9f => Some((u64::from(b & 0x0f), i + 1)),
        0xdc => Some((be_uint(buf, i + 1, 2)?, i + 3)),
        0xdd => Some((be_uint(buf, i + 1, 4)?, i + 5)),
        _ => None,
    }
}

fn mp_skip_n(buf: &[u8], mut i: usize, n: u64, depth: u32) -> Option<usize> {
    for _ in 0..n {
        i = mp_skip(buf, i, depth)?;
    }
    Some(i)
}

/// Position `len` bytes after `start`, if the buffer holds them.
fn span(buf: &[u8], start: usize, len: u64) -> Option<usize> {
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= buf.len()).then_some(end)
}

/// End of the MessagePack value starting at `i`.
fn mp_skip(buf: &[u8], i: usize, depth: u32) -> Option<usize> {
    let b = *buf.get(i)?;
    if depth >= MAX_DEPTH {
        return None;
    }
    match b {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(i + 1),
        0x80..=0x8f => mp_skip_n(buf, i + 1, 2 * u64::from(b & 0x0f), depth + 1),
        0x90..=0x9f => mp_skip_n(buf, i + 1, u64::from(b & 0x0f), depth + 1),
        0xa0..=0xbf => span(buf, i + 1, u64::from(b & 0x1f)),
        0xc4 | 0xd9 => span(buf, i + 2, be_uint(buf, i + 1, 1)?),
        0xc5 | 0xda => span(buf, i + 3, be_uint(buf, i + 1, 2)?),
        0xc6 | 0xdb => span(buf, i + 5, be_uint(buf, i + 1, 4)?),
        0xc7 => span(buf, i + 3, be_uint(buf, i + 1, 1)?),
        0xc8 => span(buf, i + 4, be_uint(buf, i + 1, 2)?),
        0xc9 => span(buf, i + 6, be_uint(buf, i + 1, 4)?),
        0xca => span(buf, i, 5),
        0xcb => span(buf, i, 9),
        0xcc | 0xd0 => span(buf, i, 2),
        0xcd | 0xd1 => span(buf, i, 3),
        0xce | 0xd2 => span(buf, i, 5),
        0xcf | 0xd3 => span(buf, i, 9),
        0xd4 => span(buf, i, 3),
        0xd5 => span(buf, i, 4),
        0xd6 => span(buf, i, 6),
        0xd7 => span(buf, i, 10),
        0xd8 => span(buf, i, 18),
        0xdc => mp_skip_n(buf, i + 3, be_uint(buf, i + 1, 2)?, depth + 1),
        0xdd => mp_skip_n(buf, i + 5, be_uint(buf, i + 1, 4)?, depth + 1),
        0xde => mp_skip_n(buf, i + 3, 2 * be_uint(buf, i + 1, 2)?, depth + 1),
        0xdf => mp_skip_n(buf, i + 5, 2 * be_uint(buf, i + 1, 4)?, depth + 1),
        0xc1 => None,
    }
}

// ---------------------------------------------------------------- CBOR

struct CborHead {
    major: u8,
    /// The argument; `None` for an indefinite length (additional info 31).
    arg: Option<u64>,
    next: usize,
}

fn cbor_head(buf: &[u8], i: usize) -> Option<CborHead> {
    let b = *buf.get(i)?;
    let major = b >> 5;
    let (arg, next) = match b & 0x1f {
        ai @ 0..=23 => (Some(u64::from(ai)), i + 1),
        24 => (Some(be_uint(buf, i + 1, 1)?), i + 2),
        25 => (Some(be_uint(buf, i + 1, 2)?), i + 3),
        26 => (Some(be_uint(buf, i + 1, 4)?), i + 5),
        27 => (Some(be_uint(buf, i + 1, 8)?), i + 9),
        31 if matches!(major, 2..=5) => (None, i + 1),
        _ => return None,
    };
    Some(CborHead { major, arg, next })
}

/// End of the CBOR data item starting at `i`.
fn cbor_skip(buf: &[u8], i: usize, depth: u32) -> Option<usize> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let h = cbor_head(buf, i)?;
    match (h.major, h.arg) {
        (0 | 1 | 7, _) => Some(h.next),
        (2 | 3, Some(n)) => span(buf, h.next, n),
        (2 | 3, None) => {
            // chunks of the same major type, then a break
            let mut j = h.next;
            loop {
                if *buf.get(j)? == 0xff {
                    return Some(j + 1);
                }
                let c = cbor_head(buf, j)?;
                if c.major != h.major {
                    return None;
                }
                j = span(buf, c.next, c.arg?)?;
            }
        }
        (4 | 5, Some(n)) => {
            let items = if h.major == 5 { n.checked_mul(2)? } else { n };
            let mut j = h.next;
            for _ in 0..items {
                j = cbor_skip(buf, j, depth + 1)?;
            }
            Some(j)
        }
        (4 | 5, None) => {
            let mut j = h.next;
            loop {
                if *buf.get(j)? == 0xff {
                    return Some(j + 1);
                }
                j = cbor_skip(buf, j, depth + 1)?;
            }
        }
        (6, _) => cbor_skip(buf, h.next, depth + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Format; 3] = [Format::Json, Format::MsgPack, Format::Cbor];

    /// Hand-written encodings of `[36, 5, 300, {"a": [1, "x"]}, [7, 1234567890123, "pad"], {"k": null}]`.
    fn event(fmt: Format) -> Vec<u8> {
        match fmt {
            Format::Json => br#" [36, 5,300,{"a":[1,"x\"]"]} , [7,1234567890123,"pad"],{"k":null}]"#.to_vec(),
            Format::MsgPack => {
                let mut v = vec![0x96, 36, 5, 0xcd, 0x01, 0x2c, 0x81, 0xa1, b'a', 0x92, 1, 0xa1, b'x'];
                v.extend([0x93, 7, 0xcf]);
                v.extend(1234567890123u64.to_be_bytes());
                v.extend([0xa3, b'p', b'a', b'd', 0x81, 0xa1, b'k', 0xc0]);
                v
            }
            Format::Cbor => {
                // indefinite-length outer array, to exercise that path too
                let mut v = vec![0x9f, 0x18, 36, 5, 0x19, 0x01, 0x2c, 0xa1, 0x61, b'a', 0x82, 1, 0x61, b'x'];
                v.extend([0x83, 7, 0x1b]);
                v.extend(1234567890123u64.to_be_bytes());
                v.extend([0x63, b'p', b'a', b'd', 0xa1, 0x61, b'k', 0xf6, 0xff]);
                v
            }
        }
    }

    #[test]
    fn parses_events_in_every_format() {
        for fmt in ALL {
            let head = parse_event(&event(fmt), fmt).unwrap_or_else(|| panic!("{fmt:?}"));
            assert_eq!(head, EventHead { subscription: 5, publication: 300, seq: 7, ts: 1234567890123 }, "{fmt:?}");
            assert_eq!(message_type(&event(fmt), fmt), Some(36));
            let all = split_array(&event(fmt), fmt, 8).unwrap();
            assert_eq!(all.len(), 6, "{fmt:?}");
            assert_eq!(all.next_start(), None);
        }
    }

    #[test]
    fn truncated_or_corrupt_input_never_panics() {
        for fmt in ALL {
            let full = event(fmt);
            for cut in 0..full.len() {
                let _ = parse_event(&full[..cut], fmt);
                let _ = split_array(&full[..cut], fmt, 8);
            }
            for i in 0..full.len() {
                for x in [0x00, 0xff, 0xc1, 0x1f, b'"', b'['] {
                    let mut v = full.clone();
                    v[i] = x;
                    let _ = parse_event(&v, fmt);
                    let _ = parse_invocation(&v, fmt);
                }
            }
        }
        assert_eq!(parse_event(b"[36,1,2,{},[1]]", Format::Json), None);
        assert_eq!(parse_event(b"[37,1,2,{},[1,2]]", Format::Json), None);
        // hostile nesting
        let deep = vec![b'['; 10_000];
        assert_eq!(split_array(&deep, Format::Json, 8), None);
        let deep = vec![0x91; 10_000];
        assert_eq!(split_array(&deep, Format::MsgPack, 8), None);
        let deep = vec![0x81; 10_000];
        assert_eq!(split_array(&deep, Format::Cbor, 8), None);
        // huge declared lengths
        assert_eq!(
            split_array(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc6, 0xff, 0xff, 0xff, 0xff], Format::MsgPack, 8),
            None
        );
        assert_eq!(
            split_array(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5b, 0xff], Format::Cbor, 8),
            None
        );
    }

    #[test]
    fn uints_round_trip_at_every_width() {
        for fmt in ALL {
            for v in [0u64, 1, 23, 24, 127, 128, 255, 256, 65535, 65536, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX]
            {
                let mut out = vec![];
                write_uint(&mut out, fmt, v);
                assert_eq!(parse_uint(&out, fmt), Some(v), "{fmt:?} {v}");
            }
        }
        assert_eq!(parse_uint(b"-1", Format::Json), None);
        assert_eq!(parse_uint(b"1.5", Format::Json), None);
        assert_eq!(parse_uint(b"99999999999999999999", Format::Json), None);
        assert_eq!(parse_uint(&[0xd0, 0x05], Format::MsgPack), Some(5));
        assert_eq!(parse_uint(&[0xd0, 0xff], Format::MsgPack), None);
        assert_eq!(parse_uint(&[0x20], Format::Cbor), None); // -1
    }

    #[test]
    fn invocation_args_are_echoed_verbatim_in_yield() {
        let cases: [(Format, Vec<u8>, Vec<u8>); 3] = [
            (Format::Json, br#"[68,99,7,{},[1,"two"],{"x":1}]"#.to_vec(), br#"[70,99,{},[1,"two"]]"#.to_vec()),
            (
                Format::MsgPack,
                vec![0x96, 68, 99, 7, 0x80, 0x92, 1, 0xa3, b't', b'w', b'o', 0x81, 0xa1, b'x', 1],
                vec![0x94, 70, 99, 0x80, 0x92, 1, 0xa3, b't', b'w', b'o'],
            ),
            (
                Format::Cbor,
                vec![0x86, 0x18, 68, 0x18, 99, 7, 0xa0, 0x82, 1, 0x63, b't', b'w', b'o', 0xa1, 0x61, b'x', 1],
                vec![0x84, 0x18, 70, 0x18, 99, 0xa0, 0x82, 1, 0x63, b't', b'w', b'o'],
            ),
        ];
        for (fmt, inv, want) in cases {
            let (req, args) = parse_invocation(&inv, fmt).unwrap();
            assert_eq!(req, 99);
            let mut out = vec![];
            write_yield(&mut out, fmt, req, args.map(|r| &inv[r]));
            assert_eq!(out, want, "{fmt:?}");
            assert_eq!(parse_type_and_id(&out, fmt), Some((70, 99)));
            let mut bare = vec![];
            write_yield(&mut bare, fmt, 5, None);
            assert_eq!(split_array(&bare, fmt, 8).unwrap().len(), 3);
        }
    }

    #[test]
    fn templates_stamp_request_ids() {
        let t = IdTemplate::new(br#"[48, 1, {}, "bench.echo", ["x"]]"#, Format::Json).unwrap();
        let mut out = vec![];
        t.render(&mut out, 123456);
        assert_eq!(out, br#"[48, 123456, {}, "bench.echo", ["x"]]"#);
        let t = IdTemplate::new(&[0x94, 48, 1, 0x80, 0xa1, b'p'], Format::MsgPack).unwrap();
        let mut out = vec![];
        t.render(&mut out, 70000);
        assert_eq!(out, [0x94, 48, 0xce, 0, 1, 0x11, 0x70, 0x80, 0xa1, b'p']);
        let t = IdTemplate::new(&[0x84, 0x18, 48, 1, 0xa0, 0x61, b'p'], Format::Cbor).unwrap();
        let mut out = vec![];
        t.render(&mut out, 500);
        assert_eq!(parse_type_and_id(&out, Format::Cbor), Some((48, 500)));
        assert_eq!(split_array(&out, Format::Cbor, 8).unwrap().len(), 4);
    }
}
