//! MP4 (M4A) boxes checked before symphonia reads them. symphonia's isomp4 reader sizes a vector by a
//! sample table's declared entry count before it reads a single entry (`stsc`, `stco`, `co64`, `stsz`,
//! `stts`), and a buffer by a box's declared size (`hdlr`): a box of a few bytes that declares two
//! billion entries made it ask for 27 GB, and a failed allocation aborts the process (found by
//! fuzz/fuzz_targets/audio_decode). This walk reads only box headers and counts, and refuses a table
//! whose entries need more bytes than its box holds, or a box in the index (`moov`) larger than the box
//! around it. It also refuses an audio sample entry (in `stsd`) shorter than the fields of its version:
//! symphonia subtracts what it read from the declared length, and a short entry made that subtraction
//! overflow (a panic in a debug build, a wrapped length in a release one; found by the same fuzzer).
//!
//! Thread: the caller's. Input: an MP4 from its first byte (seekable, or the head of a stream read into
//! memory). Output: what the walk saw, or the reason to refuse it.

use std::io::{Read, Seek, SeekFrom};

/// The boxes on the way to the sample tables.
const CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];
/// Deeper nesting than any real file has.
const MAX_DEPTH: u32 = 8;
/// The most of a stream (standard input, a FIFO) read ahead to find and check its index.
pub(super) const MAX_STREAM_HEAD_BYTES: usize = 64 << 20;

/// An ISO media file: symphonia knows it by the `ftyp` box first.
pub(super) fn is_mp4(head: &[u8]) -> bool {
    head.get(4..8) == Some(b"ftyp")
}

/// Bytes per entry of a table symphonia sizes by its count, and the bytes between the version and
/// flags and the count.
fn table(kind: &[u8; 4]) -> Option<(u64, u64)> {
    match kind {
        b"stsc" => Some((12, 0)),
        b"stco" | b"stsz" => Some((4, u64::from(kind == b"stsz") * 4)),
        b"co64" | b"stts" => Some((8, 0)),
        _ => None,
    }
}

/// The audio sample entries symphonia reads field by field (its `read_audio_sample_entry`).
const AUDIO_ENTRIES: [&[u8; 4]; 16] = [
    b"mp4a", b"alac", b"fLaC", b"Opus", b".mp3", b"lpcm", b"wave", b"alaw", b"ulaw", b"raw ", b"sowt", b"twos",
    b"in24", b"in32", b"fl32", b"fl64",
];

/// The bytes of an audio sample entry's fields after its box header, by its version: 28 (the base and
/// version 0 fields), 16 more in version 1, 36 more in version 2.
fn audio_entry_fields(version: u16) -> u64 {
    match version {
        1 => 44,
        2 => 64,
        _ => 28,
    }
}

/// Checks the first sample entry of an `stsd` whose body lies at `body`.
fn check_sample_entry<R: Read + Seek>(r: &mut R, body: (u64, u64)) -> Result<(), String> {
    // Version and flags, the entry count, then the entry: its size and type, 6 reserved bytes, the data
    // reference, the version.
    let mut fields = [0u8; 26];
    if r.seek(SeekFrom::Start(body.0)).is_err() || r.read_exact(&mut fields).is_err() {
        return Ok(()); // short: the demuxer says so
    }
    let kind: [u8; 4] = fields[12..16].try_into().unwrap_or_default();
    if !AUDIO_ENTRIES.contains(&&kind) {
        return Ok(());
    }
    let size = u64::from(u32::from_be_bytes(fields[8..12].try_into().unwrap_or_default()));
    let version = u16::from_be_bytes([fields[24], fields[25]]);
    let need = 8 + audio_entry_fields(version);
    if size < need {
        let name = String::from_utf8_lossy(&kind).into_owned();
        return Err(format!(
            "its '{name}' sample entry (version {version}) declares {size} bytes; its header and fields need {need}"
        ));
    }
    Ok(())
}

/// Walks the boxes of the file in `r` (`len` bytes): `Ok(true)` when it saw the whole index (`moov`).
pub(super) fn check<R: Read + Seek>(r: &mut R, len: u64) -> Result<bool, String> {
    walk(r, 0, len, 0)
}

fn walk<R: Read + Seek>(r: &mut R, start: u64, end: u64, depth: u32) -> Result<bool, String> {
    let mut at = start;
    let mut saw_moov = false;
    while end.saturating_sub(at) >= 8 {
        let mut head = [0u8; 16];
        if r.seek(SeekFrom::Start(at)).is_err() || r.read_exact(&mut head[..8]).is_err() {
            break; // short: the demuxer says so
        }
        let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let name = String::from_utf8_lossy(&kind).into_owned();
        let (size, header) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
            0 => (end - at, 8),
            1 => {
                if r.read_exact(&mut head[8..16]).is_err() {
                    break;
                }
                let large = u64::from_be_bytes(head[8..16].try_into().unwrap_or_default());
                (large, 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header {
            return Err(format!("its '{name}' box declares {size} bytes, less than its own header"));
        }
        let box_end = at.saturating_add(size);
        if depth > 0 && box_end > end {
            return Err(format!("its '{name}' box declares {size} bytes, more than the box around it holds"));
        }
        let body = (at + header, box_end.min(end));
        if CONTAINERS.contains(&&kind) && depth < MAX_DEPTH {
            walk(r, body.0, body.1, depth + 1)?;
            saw_moov |= &kind == b"moov" && box_end <= end;
        } else if &kind == b"stsd" {
            check_sample_entry(r, body)?;
        } else if let Some((entry_bytes, before_count)) = table(&kind) {
            let mut fields = [0u8; 12];
            let n = (4 + before_count + 4) as usize;
            if r.read_exact(&mut fields[..n]).is_ok() {
                let count = u64::from(u32::from_be_bytes(fields[n - 4..n].try_into().unwrap_or_default()));
                // `stsz` with one size for every sample has no table.
                let constant = &kind == b"stsz" && fields[4..8] != [0; 4];
                let room = body.1.saturating_sub(body.0 + n as u64);
                if !constant && count * entry_bytes > room {
                    return Err(format!(
                        "its '{name}' table declares {count} entries, more than its {room} bytes hold"
                    ));
                }
            }
        }
        at = box_end;
    }
    Ok(saw_moov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = u32::try_from(body.len() + 8).unwrap().to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    /// ftyp, then moov > trak > mdia > minf > stbl > `table`, then a little media data.
    fn file(table: &[u8]) -> Vec<u8> {
        let stbl = mp4_box(b"stbl", table);
        let moov = mp4_box(b"moov", &mp4_box(b"trak", &mp4_box(b"mdia", &mp4_box(b"minf", &stbl))));
        [mp4_box(b"ftyp", b"M4A \0\0\0\0"), moov, mp4_box(b"mdat", &[0; 32])].concat()
    }

    fn checked(bytes: &[u8]) -> Result<bool, String> {
        check(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn honest_tables_pass_and_the_index_is_seen() {
        let stsc = mp4_box(b"stsc", &[[0u8; 4].as_slice(), &2u32.to_be_bytes(), &[1; 24]].concat());
        let stsz =
            mp4_box(b"stsz", &[[0u8; 4].as_slice(), &512u32.to_be_bytes(), &1_000_000u32.to_be_bytes()].concat());
        let bytes = file(&[stsc, stsz].concat());
        assert!(is_mp4(&bytes));
        assert_eq!(checked(&bytes), Ok(true));
        // A file cut inside its media data still passes: the demuxer reads what there is.
        assert_eq!(checked(&bytes[..bytes.len() - 10]), Ok(true));
    }

    #[test]
    fn a_table_that_declares_more_entries_than_it_holds_is_refused() {
        // The fuzzer's find, in small: a 16-byte stsc that declares 2^31 entries (27 GB asked of the allocator).
        let stsc = mp4_box(b"stsc", &[[0u8; 4].as_slice(), &(1u32 << 31).to_be_bytes()].concat());
        let err = checked(&file(&stsc)).unwrap_err();
        assert!(err.contains("'stsc' table declares 2147483648 entries"), "{err}");
        let stco = mp4_box(b"stco", &[[0u8; 4].as_slice(), &3u32.to_be_bytes(), &[0; 8]].concat());
        assert!(checked(&file(&stco)).unwrap_err().contains("'stco'"));
        let stsz = mp4_box(b"stsz", &[[0u8; 8].as_slice(), &u32::MAX.to_be_bytes()].concat());
        assert!(checked(&file(&stsz)).unwrap_err().contains("'stsz'"));
    }

    #[test]
    fn an_audio_sample_entry_shorter_than_its_fields_is_refused() {
        // stsd: version and flags, one entry; the entry: 6 reserved bytes, the data reference, the
        // version, then the rest of its fields (20 bytes in version 0, 16 more in version 1).
        let stsd = |kind: &[u8; 4], size: u32, version: u16| {
            let entry = [&size.to_be_bytes()[..], kind, &[0; 6], &1u16.to_be_bytes(), &version.to_be_bytes(), &[0; 36]];
            mp4_box(b"stsd", &[[0u8; 4].as_slice(), &1u32.to_be_bytes(), &entry.concat()].concat())
        };
        assert!(checked(&file(&stsd(b"mp4a", 36, 0))).is_ok(), "a version 0 entry of 36 bytes is whole");
        assert!(checked(&file(&stsd(b"mp4a", 52, 1))).is_ok());
        let short = checked(&file(&stsd(b"mp4a", 20, 0))).unwrap_err();
        assert!(short.contains("'mp4a' sample entry (version 0) declares 20 bytes"), "{short}");
        assert!(checked(&file(&stsd(b"mp4a", 40, 1))).is_err(), "version 1 needs 52");
        assert!(checked(&file(&stsd(b"avc1", 20, 0))).is_ok(), "not audio: symphonia skips it");
    }

    #[test]
    fn a_box_in_the_index_larger_than_its_parent_is_refused() {
        // An hdlr of 2^40 bytes (a 64-bit size) inside mdia: symphonia would allocate it.
        let mut hdlr = 1u32.to_be_bytes().to_vec();
        hdlr.extend_from_slice(b"hdlr");
        hdlr.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let err = checked(&file(&hdlr)).unwrap_err();
        assert!(err.contains("'hdlr' box declares 1099511627776 bytes"), "{err}");
    }
}
