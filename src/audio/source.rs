//! The bytes of an audio file on their way to symphonia: headers and declared sizes checked before
//! anything is sized by them ([`check_wav_header`], [`checked_source`]), and symphonia's probe with raw
//! AAC kept from its seeking estimate ([`probe_format`]).
//!
//! Thread: the caller's.
//!
//! Input: a file's first bytes and its source (seekable or a stream). Output: a source symphonia may read,
//! then its format reader; or the file's error.

use std::io::{Cursor, Read as _, Seek as _};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadBytes, ReadOnlySource, SeekBuffered as _};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Instantiate;

use super::AudioError;
use super::stream::check_layout;

/// A WAV's rate and channel count from its `fmt ` chunk, checked before symphonia reads them (it panics
/// on a rate of 0). Anything that is not a RIFF WAV passes.
pub(super) fn check_wav_header(head: &[u8], path: &Path) -> Result<(), AudioError> {
    if head.len() < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(());
    }
    let mut at = 12;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let len = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]) as usize;
        if id == b"fmt " {
            let Some(fmt) = head.get(at + 8..at + 16) else { return Ok(()) };
            let channels = usize::from(u16::from_le_bytes([fmt[2], fmt[3]]));
            let rate_hz = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
            return check_layout(path, rate_hz, channels);
        }
        at = at.saturating_add(8).saturating_add(len + (len & 1));
    }
    Ok(())
}

/// A container's declared sizes checked before symphonia allocates by them: an MP4's boxes
/// ([`super::mp4`]), a FLAC's metadata ([`super::flac`]) and an OGG's comment header ([`super::ogg`]). A stream (standard input, a FIFO) is read
/// into memory as far as the check needs, and those bytes go first: an MP4 up to its index (whole when
/// it is shorter than [`super::mp4::MAX_STREAM_HEAD_BYTES`]), a FLAC to the end of its metadata, an OGG
/// to the end of its comment header.
pub(super) fn checked_source(
    mut source: Box<dyn MediaSource>,
    path: &Path,
) -> Result<Box<dyn MediaSource>, AudioError> {
    let io = |source| AudioError::Open { path: path.to_owned(), source };
    let malformed = |what: &str, reason: String| AudioError::Decode {
        path: path.to_owned(),
        reason: format!("a malformed {what}: {reason}"),
    };
    let mut head = Vec::with_capacity(8);
    (&mut source).take(8).read_to_end(&mut head).map_err(io)?;
    if source.is_seekable() {
        source.rewind().map_err(io)?;
        if super::mp4::is_mp4(&head) {
            let len = source.byte_len().unwrap_or(u64::MAX);
            super::mp4::check(&mut source, len).map_err(|e| malformed("MP4", e))?;
        } else if super::flac::is_flac(&head) {
            super::flac::check(&mut source).map_err(|e| malformed("FLAC", e))?;
        } else if super::ogg::is_ogg(&head) {
            super::ogg::check(&mut source).map_err(|e| malformed("OGG", e))?;
        }
        source.rewind().map_err(io)?;
        return Ok(source);
    }
    if super::mp4::is_mp4(&head) {
        let cap = super::mp4::MAX_STREAM_HEAD_BYTES;
        (&mut source).take((cap - head.len()) as u64).read_to_end(&mut head).map_err(io)?;
        let len = head.len() as u64;
        let saw_index = super::mp4::check(&mut Cursor::new(&head), len).map_err(|e| malformed("MP4", e))?;
        if head.len() < cap {
            return Ok(Box::new(Cursor::new(head))); // the whole stream
        }
        if !saw_index {
            return Err(malformed(
                "MP4",
                format!(
                    "read from a pipe, its index (moov) is not in its first {} MiB; give it as a file, or remux \
                     it with ffmpeg -movflags +faststart",
                    cap >> 20
                ),
            ));
        }
    } else if super::flac::is_flac(&head) || super::ogg::is_ogg(&head) {
        // What the check reads is kept, to go first.
        let ogg = super::ogg::is_ogg(&head);
        let mut seen = Recorded { inner: Cursor::new(head).chain(source), bytes: Vec::new() };
        if ogg {
            super::ogg::check(&mut seen).map_err(|e| malformed("OGG", e))?;
        } else {
            super::flac::check(&mut seen).map_err(|e| malformed("FLAC", e))?;
        }
        return Ok(Box::new(ReadOnlySource::new(Cursor::new(seen.bytes).chain(seen.inner))));
    }
    Ok(Box::new(ReadOnlySource::new(Cursor::new(head).chain(source))))
}

/// A source whose seeking can be switched off after it is handed to symphonia (see [`probe_format`]).
struct SeekSwitch {
    inner: Box<dyn MediaSource>,
    off: Arc<AtomicBool>,
}

impl std::io::Read for SeekSwitch {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl std::io::Seek for SeekSwitch {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl MediaSource for SeekSwitch {
    fn is_seekable(&self) -> bool {
        self.inner.is_seekable() && !self.off.load(Ordering::Relaxed)
    }

    fn byte_len(&self) -> Option<u64> {
        self.inner.byte_len()
    }
}

/// The start-of-stream marker of a raw AAC (ADTS) stream, as symphonia registers it; no other reader
/// facecast builds in registers these two bytes.
const ADTS_MARKER: [u8; 2] = [0xff, 0xf1];

/// symphonia's probe ([`symphonia::core::probe::Probe::format`]) with one change: a raw AAC (ADTS)
/// stream is handed to its reader as unseekable. On a seekable source, symphonia's ADTS reader estimates
/// the frame count by sampling four points of the file, and its arithmetic underflows or steps by 0 when
/// the first frame lies past the middle (adts.rs:303; found by fuzz/fuzz_targets/audio_decode). The
/// unseekable estimate reads the first 16 KiB instead, so the length is still estimated. facecast reads
/// the file front to back and never seeks it.
pub(super) fn probe_format(source: Box<dyn MediaSource>) -> Result<Box<dyn FormatReader>, SymphoniaError> {
    let off = Arc::new(AtomicBool::new(false));
    let source = SeekSwitch { inner: source, off: Arc::clone(&off) };
    let mut mss = MediaSourceStream::new(Box::new(source), Default::default());
    let probe = symphonia::default::get_probe();
    loop {
        match probe.next(&mut mss)? {
            Instantiate::Format(make) => {
                // The probe leaves the stream at the marker it found.
                let mut marker = [0u8; 2];
                ReadBytes::read_buf_exact(&mut mss, &mut marker)?;
                mss.seek_buffered_rev(marker.len());
                off.store(marker == ADTS_MARKER, Ordering::Relaxed);
                return make(mss, &FormatOptions::default());
            }
            // Tags before the audio (ID3v2) are read past; facecast uses none of them.
            Instantiate::Metadata(make) => {
                make(&MetadataOptions::default()).read_all(&mut mss)?;
            }
        }
    }
}

/// A reader that keeps a copy of what it has read.
struct Recorded<R> {
    inner: R,
    bytes: Vec<u8>,
}

impl<R: std::io::Read> std::io::Read for Recorded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::audio::stream::AudioStream;

    fn data(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Opens `bytes` and reads it to the end: the length the header declared, and the frames decoded.
    fn read_all(bytes: Vec<u8>, name: &str) -> Result<(Option<f64>, u64), AudioError> {
        let mut stream = AudioStream::open_owned(bytes, Path::new(name))?;
        let declared = stream.declared_secs();
        let mut frames = 0;
        while let Some((chunk, _)) = stream.next_chunk()? {
            frames += chunk.len() as u64;
        }
        Ok((declared, frames))
    }

    #[test]
    fn raw_aac_is_read_front_to_back_with_its_length_still_estimated() {
        // cards_001.wav (1.095 s) as ADTS at 44.1 kHz; AAC adds up to two frames of padding.
        let aac = data("cards_001_44k.aac");
        let (declared, frames) = read_all(aac.clone(), "cards_001_44k.aac").unwrap();
        let secs = frames as f64 / 44_100.0;
        assert!((1.09..1.17).contains(&secs), "decoded {secs} s");
        let declared = declared.expect("the unseekable estimate gives a length");
        assert!((declared - secs).abs() < 0.1, "declared {declared} s, decoded {secs} s");

        // The same behind an ID3v2 tag (as ffmpeg -write_id3v2 writes it): the probe reads past the tag.
        let mut tagged = b"ID3\x04\x00\x00\x00\x00\x00\x0bTSSE\x00\x00\x00\x01\x00\x00\x00".to_vec();
        tagged.extend_from_slice(&aac);
        assert_eq!(read_all(tagged, "tagged.aac").unwrap().1, frames);
    }

    #[test]
    fn the_adts_estimate_that_stepped_by_zero_is_not_run() {
        // Found by fuzz/fuzz_targets/audio_decode: 57 bytes whose ADTS frame header lies past the middle
        // of the file. On a seekable source symphonia's frame-count estimate steps by 0 and panics
        // (adts.rs:303; facecast caught it as "malformed stream (assertion failed: step != 0)"). Handed
        // over as unseekable, the estimate reads forward and the file is refused as what it is.
        let err = read_all(data("fuzz/audio_decode_adts_step_zero.aac"), "step_zero.aac").unwrap_err();
        assert!(matches!(err, AudioError::Unsupported { .. }), "{err:?}");
        assert!(err.to_string().contains("aac too complex"), "{err}");
    }
}
