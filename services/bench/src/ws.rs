//! WebSocket framing (RFC 6455) for the client side, after the opening handshake.
//!
//! The handshake itself is done by tokio-tungstenite (it negotiates
//! `Sec-WebSocket-Protocol` and checks `Sec-WebSocket-Accept`); from then on the bench
//! speaks frames itself, because a load generator must cost less per message than the
//! router it measures: frames are parsed in place in one read buffer (no allocation, no
//! copy per message) and written masked into one write buffer that is flushed once per
//! batch. Everything here is pure and unit-tested.

use thiserror::Error;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WsError {
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    #[error("websocket message of {0} bytes exceeds the limit")]
    TooBig(u64),
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: u8,
    pub header_len: usize,
    pub payload_len: usize,
}

/// Parses the frame header at the start of `buf`. `Ok(None)`: not enough bytes yet.
/// Frames from a server must not be masked (RFC 6455 5.1).
pub fn parse_header(buf: &[u8], max_payload: usize) -> Result<Option<FrameHeader>, WsError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol("reserved bits set (no extension was negotiated)"));
    }
    if b1 & 0x80 != 0 {
        return Err(WsError::Protocol("masked frame from the server"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    let (len, header_len) = match b1 & 0x7f {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            (u64::from_be_bytes(a), 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode >= 0x8 && (len > 125 || !fin) {
        return Err(WsError::Protocol("control frame fragmented or longer than 125 bytes"));
    }
    if !matches!(opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
        return Err(WsError::Protocol("unknown opcode"));
    }
    if len > max_payload as u64 {
        return Err(WsError::TooBig(len));
    }
    Ok(Some(FrameHeader { fin, opcode, header_len, payload_len: len as usize }))
}

/// XORs `data` with the 4-byte masking key, starting at key offset 0.
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let k8 = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(a) ^ k8).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Appends one complete (FIN) client frame, masked with `key`, to `out`.
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.reserve(payload.len() + 14);
    out.push(0x80 | (opcode & 0x0f));
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// What the decoder found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole data message (text or binary: the serializer already tells which).
    Message(&'a [u8]),
    Ping(&'a [u8]),
    Pong,
    /// The close code, if the peer sent one, and its reason.
    Close(Option<u16>, String),
}

/// Reassembles messages from frames. Keeps only the state of a fragmented message;
/// unfragmented messages (all the router should send) are returned as slices of the
/// caller's read buffer, without a copy.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// Payload of a fragmented message collected so far (empty when none is open).
    fragments: Vec<u8>,
    in_fragmented: bool,
}

impl Decoder {
    pub fn new(max_message: usize) -> Self {
        Decoder { max_message, fragments: Vec::new(), in_fragmented: false }
    }

    /// Decodes the next complete item of `buf[*pos..]` and advances `*pos` past it.
    /// `Ok(None)`: the buffer holds only part of a frame; read more and call again.
    /// `need` is set to the number of bytes the incomplete frame needs in total, when known.
    pub fn next<'a>(
        &'a mut self,
        buf: &'a [u8],
        pos: &mut usize,
        need: &mut usize,
    ) -> Result<Option<Incoming<'a>>, WsError> {
        loop {
            let rest = buf.get(*pos..).unwrap_or_default();
            let Some(h) = parse_header(rest, self.max_message)? else {
                *need = 14;
                return Ok(None);
            };
            let total = h.header_len + h.payload_len;
            if rest.len() < total {
                *need = total;
                return Ok(None);
            }
            let start = *pos + h.header_len;
            let payload = &buf[start..start + h.payload_len];
            *pos += total;
            match h.opcode {
                OP_PING => return Ok(Some(Incoming::Ping(payload))),
                OP_PONG => return Ok(Some(Incoming::Pong)),
                OP_CLOSE => {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    let reason = payload.get(2..).map(|r| String::from_utf8_lossy(r).into_owned()).unwrap_or_default();
                    return Ok(Some(Incoming::Close(code, reason)));
                }
                OP_TEXT | OP_BINARY => {
                    if self.in_fragmented {
                        return Err(WsError::Protocol("new data frame inside a fragmented message"));
                    }
                    if h.fin {
                        return Ok(Some(Incoming::Message(payload)));
                    }
                    self.in_fragmented = true;
                    self.fragments.clear();
                    self.fragments.extend_from_slice(payload);
                }
                _ => {
                    // continuation
                    if !self.in_fragmented {
                        return Err(WsError::Protocol("continuation frame without a message"));
                    }
                    if self.fragments.len() + payload.len() > self.max_message {
                        return Err(WsError::TooBig((self.fragments.len() + payload.len()) as u64));
                    }
                    self.fragments.extend_from_slice(payload);
                    if h.fin {
                        self.in_fragmented = false;
                        return Ok(Some(Incoming::Message(&self.fragments)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked).
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![if fin { 0x80 } else { 0 } | opcode];
        let len = payload.len();
        if len < 126 {
            v.push(len as u8);
        } else if len <= 65535 {
            v.push(126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    fn decode_all(buf: &[u8]) -> Vec<String> {
        let mut d = Decoder::new(1 << 20);
        let mut pos = 0;
        let mut need = 0;
        let mut out = vec![];
        while let Some(i) = d.next(buf, &mut pos, &mut need).unwrap() {
            out.push(match i {
                Incoming::Message(m) => format!("msg:{}", String::from_utf8_lossy(m)),
                Incoming::Ping(p) => format!("ping:{}", String::from_utf8_lossy(p)),
                Incoming::Pong => "pong".into(),
                Incoming::Close(c, r) => format!("close:{c:?}:{r}"),
            });
        }
        out
    }

    #[test]
    fn writes_masked_frames_of_every_length_class() {
        for len in [0usize, 5, 125, 126, 300, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let key = [0x11, 0x22, 0x33, 0x44];
            let mut out = vec![];
            write_frame(&mut out, OP_BINARY, &payload, key);
            assert_eq!(out[0], 0x82);
            assert!(out[1] & 0x80 != 0, "client frames are masked");
            let (hlen, plen) = match out[1] & 0x7f {
                126 => (8, u16::from_be_bytes([out[2], out[3]]) as usize),
                127 => (14, u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize),
                n => (6, n as usize),
            };
            assert_eq!(plen, len);
            assert_eq!(&out[hlen - 4..hlen], &key);
            let mut body = out[hlen..].to_vec();
            apply_mask(&mut body, key);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn mask_is_its_own_inverse_at_any_length() {
        for len in 0..40 {
            let orig: Vec<u8> = (0..len as u8).collect();
            let mut d = orig.clone();
            apply_mask(&mut d, [1, 2, 3, 4]);
            for (i, b) in d.iter().enumerate() {
                assert_eq!(*b, orig[i] ^ [1, 2, 3, 4][i % 4]);
            }
            apply_mask(&mut d, [1, 2, 3, 4]);
            assert_eq!(d, orig);
        }
    }

    #[test]
    fn decodes_several_messages_and_control_frames_from_one_buffer() {
        let mut buf = server_frame(true, OP_TEXT, b"[36,1,2,{},[0,5]]");
        buf.extend(server_frame(true, OP_PING, b"hi"));
        buf.extend(server_frame(true, OP_BINARY, &[0x93, 1, 2, 3]));
        buf.extend(server_frame(true, OP_PONG, b""));
        buf.extend(server_frame(true, OP_CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']));
        let got = decode_all(&buf);
        assert_eq!(got[0], "msg:[36,1,2,{},[0,5]]");
        assert_eq!(got[1], "ping:hi");
        assert_eq!(got[3], "pong");
        assert_eq!(got[4], "close:Some(1000):bye");
    }

    #[test]
    fn reassembles_fragmented_messages_with_interleaved_ping() {
        let mut buf = server_frame(false, OP_TEXT, b"[1,");
        buf.extend(server_frame(true, OP_PING, b""));
        buf.extend(server_frame(false, OP_CONTINUATION, b"2,"));
        buf.extend(server_frame(true, OP_CONTINUATION, b"3]"));
        assert_eq!(decode_all(&buf), vec!["ping:", "msg:[1,2,3]"]);
    }

    #[test]
    fn partial_frames_ask_for_more_bytes_at_every_split_point() {
        let big = vec![b'x'; 300];
        let frame = server_frame(true, OP_TEXT, &big);
        for cut in 0..frame.len() {
            let mut d = Decoder::new(1 << 20);
            let mut pos = 0;
            let mut need = 0;
            assert_eq!(d.next(&frame[..cut], &mut pos, &mut need).unwrap(), None, "cut {cut}");
            assert_eq!(pos, 0);
            assert!(need > cut || cut < 4);
        }
        let mut d = Decoder::new(1 << 20);
        let (mut pos, mut need) = (0, 0);
        assert_eq!(d.next(&frame, &mut pos, &mut need).unwrap(), Some(Incoming::Message(&big[..])));
        assert_eq!(pos, frame.len());
    }

    #[test]
    fn rejects_bad_frames() {
        fn bad(bytes: &[u8]) -> Result<(), WsError> {
            let mut d = Decoder::new(100);
            let (mut pos, mut need) = (0, 0);
            d.next(bytes, &mut pos, &mut need).map(|_| ())
        }
        assert!(bad(&[0x81, 0x80, 0, 0, 0, 0]).is_err(), "masked server frame");
        assert!(bad(&[0xC1, 0x00]).is_err(), "reserved bit");
        assert_eq!(bad(&[0x81, 126, 0x10, 0x00]), Err(WsError::TooBig(4096)));
        assert!(bad(&[0x80, 0x00]).is_err(), "continuation without a start");
        assert!(bad(&[0x09, 0x00]).is_err(), "fragmented control frame");
        assert!(bad(&[0x83, 0x00]).is_err(), "unknown opcode");
        assert!(bad(&[0x01, 0x01, b'a', 0x81, 0x00]).is_err(), "data frame inside a fragmented message");
    }
}
