//! An OGG stream's comment header (Vorbis `\x03vorbis`, Opus `OpusTags`) checked before symphonia reads
//! it: the same comment reader as FLAC's, which allocates each comment by its declared length first
//! (see [`super::flac`]). This reassembles the first logical stream's second packet from its pages and
//! refuses a length that runs past the packet.
//!
//! Thread: the caller's. Input: an OGG stream from its first byte, read in order. Output: Ok, or the
//! reason to refuse it.

use std::io::Read;

/// The most of a comment packet reassembled to check it (a picture in a comment can be large).
const MAX_PACKET_BYTES: usize = 16 << 20;

/// An OGG stream: its first page's capture pattern.
pub(super) fn is_ogg(head: &[u8]) -> bool {
    head.starts_with(b"OggS")
}

/// Reads pages from `r` (the stream's start) until the first logical stream's comment packet is whole,
/// and checks the lengths in it. What is not OGG, or ends early, passes: the demuxer reports it.
pub(super) fn check(r: &mut impl Read) -> Result<(), String> {
    let (mut serial, mut packet, mut packets) = (None, Vec::new(), 0);
    loop {
        let mut header = [0u8; 27];
        if r.read_exact(&mut header).is_err() || &header[..4] != b"OggS" {
            return Ok(());
        }
        let mut lacing = vec![0u8; usize::from(header[26])];
        let page_serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        let mut body = Vec::new();
        if r.read_exact(&mut lacing).is_err() {
            return Ok(());
        }
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        if r.take(body_len as u64).read_to_end(&mut body).is_err() || body.len() < body_len {
            return Ok(());
        }
        if *serial.get_or_insert(page_serial) != page_serial {
            continue; // another logical stream
        }
        let mut at = 0;
        for &l in &lacing {
            packet.extend_from_slice(&body[at..at + usize::from(l)]);
            at += usize::from(l);
            if l < 255 {
                packets += 1;
                if packets == 2 {
                    return comment_packet(&packet);
                }
                packet.clear();
            }
            if packet.len() > MAX_PACKET_BYTES {
                return Ok(());
            }
        }
    }
}

fn comment_packet(packet: &[u8]) -> Result<(), String> {
    let comment = if let Some(rest) = packet.strip_prefix(b"\x03vorbis") {
        rest
    } else if let Some(rest) = packet.strip_prefix(b"OpusTags") {
        rest
    } else {
        return Ok(());
    };
    super::flac::comment_lengths(comment, "comment header")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One page of `serial` holding `packets`, each under 255 bytes.
    fn page(serial: u32, packets: &[&[u8]]) -> Vec<u8> {
        let mut p = b"OggS\0\0".to_vec();
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&serial.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        p.push(packets.len() as u8);
        p.extend(packets.iter().map(|k| k.len() as u8));
        p.extend(packets.concat());
        p
    }

    fn tags(len: u32) -> Vec<u8> {
        let mut t = b"OpusTags".to_vec();
        t.extend_from_slice(&1u32.to_le_bytes());
        t.push(b'v');
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&len.to_le_bytes());
        t.extend_from_slice(b"TITLE=a");
        t
    }

    #[test]
    fn an_honest_comment_passes_and_a_lying_one_is_refused() {
        let head: &[u8] = b"OpusHead\x01\x01\0\0\x80\xbb\0\0\0\0\0";
        let good = [page(7, &[head]), page(9, &[b"other"]), page(7, &[&tags(7)])].concat();
        assert!(is_ogg(&good));
        assert_eq!(check(&mut good.as_slice()), Ok(()));
        let bad = [page(7, &[head]), page(7, &[&tags(3_755_991_007)])].concat();
        let err = check(&mut bad.as_slice()).unwrap_err();
        assert!(err.contains("comment header block declares a comment of 3755991007 bytes"), "{err}");
    }
}
