//! FLAC metadata checked before symphonia reads it. symphonia allocates each Vorbis comment and each
//! picture's fields by the length the file declares before it reads them, and a block can declare up
//! to 4 GiB inside its 16 MiB: a comment of 3.7 GB was asked of the allocator (found by
//! fuzz/fuzz_targets/audio_decode), which aborts the process where the system refuses that much. This
//! reads the metadata blocks in order and refuses a length that runs past its block, as the block
//! declares itself: in a file that ends inside the block too (a later find: 3.3 GB asked for in a 34 KB
//! file whose comment block declared 64 KB and held 33 KB).
//!
//! Thread: the caller's. Input: a FLAC from its first byte (`fLaC`, after any ID3v2 tag), read in
//! order. Output: Ok, or the reason to refuse it.

use std::io::Read;

const VORBIS_COMMENT: u8 = 4;
const PICTURE: u8 = 6;

/// A native FLAC stream, or one behind an ID3v2 tag.
pub(super) fn is_flac(head: &[u8]) -> bool {
    head.starts_with(b"fLaC") || head.starts_with(b"ID3")
}

/// Reads the metadata blocks from `r` (the file's start) and checks the lengths inside the comment and
/// picture blocks. What is not FLAC, or ends early, passes: the demuxer reports it.
pub(super) fn check(r: &mut impl Read) -> Result<(), String> {
    let mut marker = [0u8; 10];
    if r.read_exact(&mut marker[..4]).is_err() {
        return Ok(());
    }
    if &marker[..3] == b"ID3" {
        // ID3v2: a 10-byte header whose last four bytes are a 28-bit size, seven bits a byte.
        if r.read_exact(&mut marker[4..10]).is_err() {
            return Ok(());
        }
        let size = marker[6..10].iter().fold(0u64, |s, &b| (s << 7) | u64::from(b & 0x7f));
        let footer = if marker[5] & 0x10 != 0 { 10 } else { 0 };
        if std::io::copy(&mut r.take(size + footer), &mut std::io::sink()).is_err()
            || r.read_exact(&mut marker[..4]).is_err()
        {
            return Ok(());
        }
    }
    if &marker[..4] != b"fLaC" {
        return Ok(());
    }
    loop {
        let mut header = [0u8; 4];
        if r.read_exact(&mut header).is_err() {
            return Ok(());
        }
        let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7f);
        let len = usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
        let mut block = Vec::new();
        if r.take(len as u64).read_to_end(&mut block).is_err() {
            return Ok(());
        }
        // symphonia reads a block cut short by the file's end as far as it goes, sizing each field by
        // its declared length first: the lengths are checked against the block's declared length.
        let fields = Fields { rest: &block, declared: len, block: "" };
        match kind {
            VORBIS_COMMENT => comment_fields(Fields { block: "Vorbis comment", ..fields })?,
            PICTURE => picture_lengths(Fields { block: "picture", ..fields })?,
            _ => {}
        }
        if last || block.len() < len {
            return Ok(());
        }
    }
}

/// A cursor over a block (the bytes present of it, and the length it declares) that refuses a declared
/// field longer than what is left of the block.
#[derive(Clone, Copy)]
struct Fields<'a> {
    rest: &'a [u8],
    /// What the block declares is left of it, at least `rest.len()`.
    declared: usize,
    block: &'static str,
}

impl Fields<'_> {
    fn u32(&mut self, big_endian: bool) -> Option<u32> {
        let (word, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        self.declared -= 4;
        Some(if big_endian { u32::from_be_bytes(*word) } else { u32::from_le_bytes(*word) })
    }

    /// Skips a field of the length just read, or says why not.
    fn skip(&mut self, len: u32, what: &str) -> Result<(), String> {
        let len = len as usize;
        if len > self.declared {
            return Err(format!(
                "its {} block declares a {what} of {len} bytes, with {} left in the block",
                self.block, self.declared
            ));
        }
        self.declared -= len;
        self.rest = &self.rest[len.min(self.rest.len())..];
        Ok(())
    }
}

/// The lengths in a whole Vorbis comment (OGG's comment header; `block` names it in messages).
pub(super) fn comment_lengths(block: &[u8], name: &'static str) -> Result<(), String> {
    comment_fields(Fields { rest: block, declared: block.len(), block: name })
}

fn comment_fields(mut f: Fields) -> Result<(), String> {
    let Some(vendor) = f.u32(false) else { return Ok(()) };
    f.skip(vendor, "vendor string")?;
    let Some(count) = f.u32(false) else { return Ok(()) };
    for _ in 0..count {
        let Some(len) = f.u32(false) else { return Ok(()) };
        f.skip(len, "comment")?;
    }
    Ok(())
}

fn picture_lengths(mut f: Fields) -> Result<(), String> {
    let _picture_type = f.u32(true);
    let Some(mime) = f.u32(true) else { return Ok(()) };
    f.skip(mime, "media type")?;
    let Some(description) = f.u32(true) else { return Ok(()) };
    f.skip(description, "description")?;
    for _ in 0..4 {
        // Width, height, depth, colours.
        if f.u32(true).is_none() {
            return Ok(());
        }
    }
    let Some(data) = f.u32(true) else { return Ok(()) };
    f.skip(data, "picture")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u8, last: bool, body: &[u8]) -> Vec<u8> {
        let len = body.len();
        let mut b = vec![kind | if last { 0x80 } else { 0 }, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        b.extend_from_slice(body);
        b
    }

    fn comment(lengths: &[u32], bodies: &[&[u8]]) -> Vec<u8> {
        let mut c = 3u32.to_le_bytes().to_vec();
        c.extend_from_slice(b"abc");
        c.extend_from_slice(&(lengths.len() as u32).to_le_bytes());
        for (len, body) in lengths.iter().zip(bodies) {
            c.extend_from_slice(&len.to_le_bytes());
            c.extend_from_slice(body);
        }
        c
    }

    fn flac(blocks: &[Vec<u8>]) -> Vec<u8> {
        [b"fLaC".to_vec(), blocks.concat()].concat()
    }

    #[test]
    fn honest_metadata_passes() {
        let info = block(0, false, &[0; 34]);
        let tags = block(VORBIS_COMMENT, true, &comment(&[7, 5], &[b"TITLE=a", b"ART=b"]));
        assert!(is_flac(b"fLaC\0\0\0\x22"));
        assert_eq!(check(&mut flac(&[info, tags]).as_slice()), Ok(()));
        // Not FLAC at all, or cut short: the demuxer's to report.
        assert_eq!(check(&mut b"RIFF\0\0\0\0WAVE".as_slice()), Ok(()));
        assert_eq!(check(&mut b"fLaC\x04\0\0".as_slice()), Ok(()));
    }

    #[test]
    fn a_comment_longer_than_its_block_is_refused() {
        // The fuzzer's find, in small: a comment that declares 3.7 GB inside a block of a few bytes.
        let tags = block(VORBIS_COMMENT, true, &comment(&[3_755_991_007], &[b"x"]));
        let err = check(&mut flac(&[block(0, false, &[0; 34]), tags]).as_slice()).unwrap_err();
        assert!(err.contains("declares a comment of 3755991007 bytes"), "{err}");
        // Behind an ID3v2 tag of 4 bytes (synchsafe size 0 0 0 4).
        let mut tagged = b"ID3\x04\0\0\0\0\0\x04abcd".to_vec();
        tagged.extend(flac(&[block(VORBIS_COMMENT, true, &comment(&[99], &[b"x"]))]));
        assert!(check(&mut tagged.as_slice()).unwrap_err().contains("comment of 99 bytes"));
    }

    #[test]
    fn a_comment_longer_than_its_block_is_refused_when_the_file_ends_inside_the_block() {
        // The second find, in small: the block declares 64 KB, the file ends inside it, and a comment
        // there declares 3.3 GB (symphonia asked that of the allocator before reading).
        let body = comment(&[3_315_141_733], &[b"x"]);
        let mut cut = block(VORBIS_COMMENT, true, &body);
        cut[1..4].copy_from_slice(&[0x00, 0xff, 0xff]);
        let err = check(&mut flac(&[block(0, false, &[0; 34]), cut.clone()]).as_slice()).unwrap_err();
        assert!(err.contains("declares a comment of 3315141733 bytes, with 65520 left"), "{err}");
        // A comment that fits the declared block but runs past the file's end: the demuxer's to report.
        let fits = comment(&[60_000], &[b"x"]);
        let mut cut = block(VORBIS_COMMENT, true, &fits);
        cut[1..4].copy_from_slice(&[0x00, 0xff, 0xff]);
        assert_eq!(check(&mut flac(&[block(0, false, &[0; 34]), cut]).as_slice()), Ok(()));
    }

    #[test]
    fn a_picture_longer_than_its_block_is_refused() {
        let mut pic = 3u32.to_be_bytes().to_vec();
        pic.extend_from_slice(&9u32.to_be_bytes());
        pic.extend_from_slice(b"image/png");
        pic.extend_from_slice(&0u32.to_be_bytes());
        pic.extend_from_slice(&[0; 16]);
        pic.extend_from_slice(&u32::MAX.to_be_bytes());
        let err = check(&mut flac(&[block(PICTURE, true, &pic)]).as_slice()).unwrap_err();
        assert!(err.contains("picture block declares a picture of 4294967295 bytes"), "{err}");
    }
}
