//! Hostile length prefixes must not make the decoder allocate what they claim.
//! One test per binary: the counting allocator is process-wide.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use junction_protocol::{Serializer, decode};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records request sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn huge_length_claims_do_not_allocate() {
    let mut frames: Vec<(Serializer, Vec<u8>)> = Vec::new();
    let ff4 = [0xff, 0xff, 0xff, 0xff];
    let ff8 = [0xff; 8];
    // MessagePack: str32, bin32, array32, map32, ext32, each claiming ~4 GiB, at top level
    // and inside a message's payload.
    for marker in [0xdbu8, 0xc6, 0xdd, 0xdf, 0xc9] {
        let mut top = vec![marker];
        top.extend_from_slice(&ff4);
        top.extend_from_slice(b"abc");
        frames.push((Serializer::MsgPack, top));
        let mut inner = vec![0x95, 0x24, 0x01, 0x02, 0x80, marker];
        inner.extend_from_slice(&ff4);
        inner.extend_from_slice(b"abc");
        frames.push((Serializer::MsgPack, inner));
    }
    // CBOR: text, bytes, array, map with 32- and 64-bit lengths.
    for major in [0x60u8, 0x40, 0x80, 0xa0] {
        let mut a = vec![major | 26];
        a.extend_from_slice(&ff4);
        a.extend_from_slice(b"abc");
        frames.push((Serializer::Cbor, a));
        let mut b = vec![0x85, 0x18, 0x24, 0x01, 0x02, 0xa0, major | 27];
        b.extend_from_slice(&ff8);
        b.extend_from_slice(b"abc");
        frames.push((Serializer::Cbor, b));
    }
    for (ser, frame) in &frames {
        LARGEST.store(0, Ordering::Relaxed);
        assert!(decode(frame, *ser).is_err(), "{ser}: {frame:x?}");
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(largest <= 4096, "{ser}: {frame:x?} made a {largest}-byte allocation");
    }
}
