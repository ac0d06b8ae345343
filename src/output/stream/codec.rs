//! The stream's encoders: RGBA frames to H.264 RTP payloads, 16 kHz audio to Opus packets. Each runs on
//! the thread that calls it and publishes nothing itself: the caller hands the result to the hub.
//!
//! Input: RGBA8 frames; 16 kHz mono hops. Output: H.264 RTP payloads; Opus frames. Thread: the caller's (the
//! branch's encode and audio-out threads).

use std::time::{Duration, Instant};

use bytes::Bytes;
use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile, RateControlMode, UsageType,
    VuiConfig,
};
use openh264::formats::{RgbaSliceU8, YUVBuffer};
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::packetizer::Payloader;

use super::{AudioFrame, StreamError, VideoFrame};
use crate::vocab::clock::SAMPLE_RATE_HZ;

/// The RTP packet size facecast sends, SRTP tag included: 1200 bytes stays under every path's MTU.
pub(crate) const RTP_MTU: usize = 1200;
/// RTP header bytes (no CSRC; header extensions are added by the peer and fit the slack).
const RTP_HEADER_BYTES: usize = 12;
/// Room left under the MTU for header extensions and the SRTP authentication tag.
const RTP_SLACK_BYTES: usize = 40;

/// H.264 for a live stream: openh264 in its real-time camera mode, constrained baseline, no skipped
/// frames, an IDR on request (a peer joined or lost its place) and at least every
/// `keyframe_interval`. Each frame comes out as RTP payloads (RFC 6184 packetization-mode 1).
pub struct H264Stream {
    encoder: Encoder,
    yuv: YUVBuffer,
    /// Frame width and height, pixels.
    size: (usize, usize),
    payloader: H264Payloader,
    annexb: Vec<u8>,
    keyframe_interval: Duration,
    last_keyframe: Option<Instant>,
    epoch: Instant,
}

impl H264Stream {
    /// An encoder for `width x height` frames at up to `fps`, `bitrate_kbps` kbit/s, timestamps from
    /// `epoch`.
    ///
    /// # Errors
    /// [`StreamError::Encode`] when openh264 refuses the settings.
    pub fn new(
        (width, height): (u32, u32),
        fps: u32,
        bitrate_kbps: u32,
        keyframe_interval_secs: f64,
        epoch: Instant,
    ) -> Result<Self, StreamError> {
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate_kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            // Keyframes are made on request and by the interval below, not on openh264's own count.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            // Every frame is sent (a viewer's frame rate is the render's), so no frame skipping; the
            // buffer-based rate control holds the bitrate without it (openh264 warns for the others).
            .rate_control_mode(RateControlMode::Bufferbased)
            .skip_frames(false)
            .vui(VuiConfig::bt601());
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| StreamError::Encode(format!("H.264 encoder: {e}")))?;
        Ok(Self {
            encoder,
            yuv: YUVBuffer::new(width as usize, height as usize),
            size: (width as usize, height as usize),
            payloader: H264Payloader::default(),
            annexb: Vec::with_capacity(256 * 1024),
            keyframe_interval: Duration::from_secs_f64(keyframe_interval_secs.max(0.5)),
            last_keyframe: None,
            epoch,
        })
    }

    /// Encodes one RGBA8 frame handed off at `at`; `keyframe` forces an IDR.
    ///
    /// # Errors
    /// [`StreamError::Encode`] for a frame of the wrong size or an encoder failure.
    pub fn encode(&mut self, rgba: &[u8], at: Instant, keyframe: bool) -> Result<VideoFrame, StreamError> {
        let expected = self.size.0 * self.size.1 * 4;
        if rgba.len() != expected {
            return Err(StreamError::Encode(format!("frame has {} bytes, expected {expected}", rgba.len())));
        }
        let due = self.last_keyframe.is_none_or(|t| at.saturating_duration_since(t) >= self.keyframe_interval);
        if keyframe || due {
            self.encoder.force_intra_frame();
        }
        self.yuv.read_rgba8(RgbaSliceU8::new(rgba, self.size));
        let bits = self.encoder.encode(&self.yuv).map_err(|e| StreamError::Encode(format!("H.264: {e}")))?;
        let is_key = matches!(bits.frame_type(), FrameType::IDR | FrameType::I);
        self.annexb.clear();
        bits.write_vec(&mut self.annexb);
        if is_key {
            self.last_keyframe = Some(at);
        }
        let payloads = self
            .payloader
            .payload(RTP_MTU - RTP_HEADER_BYTES - RTP_SLACK_BYTES, &Bytes::copy_from_slice(&self.annexb))
            .map_err(|e| StreamError::Encode(format!("H.264 packetization: {e}")))?;
        Ok(VideoFrame {
            payloads,
            ticks_90k: ticks(at.saturating_duration_since(self.epoch), 90_000),
            keyframe: is_key,
        })
    }
}

/// The RTP clock `elapsed` reaches at `rate_hz`, wrapping as RTP timestamps do.
fn ticks(elapsed: Duration, rate_hz: u64) -> u32 {
    (elapsed.as_nanos() * u128::from(rate_hz) / 1_000_000_000) as u32
}

/// Samples per Opus frame: 20 ms at 16 kHz.
const OPUS_FRAME: usize = (SAMPLE_RATE_HZ / 50) as usize;
/// The RTP clock of Opus is 48 kHz whatever the coded rate.
const OPUS_TICKS_PER_FRAME: u32 = 960;

/// Opus for a live stream: 16 kHz mono speech (the pipeline's own rate), 20 ms frames.
pub struct OpusStream {
    encoder: opus::Encoder,
    pcm: Vec<f32>,
    packet: Vec<u8>,
    ticks_48k: u32,
    lookahead_secs: f64,
}

impl OpusStream {
    /// An encoder at `bitrate_kbps` kbit/s.
    ///
    /// # Errors
    /// [`StreamError::Encode`] when libopus refuses the settings.
    pub fn new(bitrate_kbps: u32) -> Result<Self, StreamError> {
        let err = |e: opus::Error| StreamError::Encode(format!("Opus encoder: {e}"));
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE_HZ, opus::Channels::Mono, opus::Application::Voip).map_err(err)?;
        encoder.set_bitrate(opus::Bitrate::Bits(bitrate_kbps as i32 * 1000)).map_err(err)?;
        encoder.set_inband_fec(true).map_err(err)?;
        encoder.set_packet_loss_perc(5).map_err(err)?;
        let lookahead = encoder.get_lookahead().map_err(err)?;
        Ok(Self {
            encoder,
            pcm: Vec::with_capacity(OPUS_FRAME),
            packet: vec![0; 1500],
            ticks_48k: 0,
            lookahead_secs: f64::from(lookahead) / f64::from(SAMPLE_RATE_HZ),
        })
    }

    /// How much later the decoded audio comes out than it went in: the encoder's lookahead. The sender
    /// sends that much earlier.
    pub fn lookahead_secs(&self) -> f64 {
        self.lookahead_secs
    }

    /// The length of one frame, seconds: a frame leaves when its last sample is in, this long after
    /// its first, whose instant its RTP timestamp carries.
    pub fn frame_secs(&self) -> f64 {
        OPUS_FRAME as f64 / f64::from(SAMPLE_RATE_HZ)
    }

    /// Takes 16 kHz mono samples and calls `emit` for every whole 20 ms frame they complete.
    ///
    /// # Errors
    /// [`StreamError::Encode`] when libopus fails.
    pub fn push(&mut self, samples: &[f32], mut emit: impl FnMut(AudioFrame)) -> Result<(), StreamError> {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (OPUS_FRAME - self.pcm.len()).min(rest.len());
            self.pcm.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pcm.len() == OPUS_FRAME {
                let n = self
                    .encoder
                    .encode_float(&self.pcm, &mut self.packet)
                    .map_err(|e| StreamError::Encode(format!("Opus: {e}")))?;
                self.pcm.clear();
                emit(AudioFrame { payload: Bytes::copy_from_slice(&self.packet[..n]), ticks_48k: self.ticks_48k });
                self.ticks_48k = self.ticks_48k.wrapping_add(OPUS_TICKS_PER_FRAME);
            }
        }
        Ok(())
    }
}

/// Paints the A/V sync marker into the top-left corner of an RGBA frame `width` pixels wide: a white square
/// while the audio this frame shows is loud, black otherwise. A receiver times the flashes against the
/// beeps it hears (scripts/whep-bench.sh).
pub fn paint_sync_marker(rgba: &mut [u8], width: u32, loud: bool) {
    let side = (width / 16).max(8) as usize;
    let value = if loud { 255 } else { 0 };
    let row_bytes = width as usize * 4;
    for row in rgba.chunks_exact_mut(row_bytes).take(side) {
        for px in row[..side * 4].chunks_exact_mut(4) {
            px.copy_from_slice(&[value, value, value, 255]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_frames_are_packetized_under_the_mtu_and_keyframes_come_on_request() {
        let epoch = Instant::now();
        let mut enc = H264Stream::new((128, 128), 30, 500, 60.0, epoch).unwrap();
        let mut rgba = vec![0u8; 128 * 128 * 4];
        for (i, px) in rgba.chunks_exact_mut(4).enumerate() {
            px.copy_from_slice(&[(i % 251) as u8, (i % 13 * 19) as u8, 128, 255]);
        }
        let first = enc.encode(&rgba, epoch, false).unwrap();
        assert!(first.keyframe, "the first frame is a keyframe");
        let second = enc.encode(&rgba, epoch + Duration::from_millis(33), false).unwrap();
        assert!(!second.keyframe, "no keyframe without a request");
        assert_eq!(second.ticks_90k, 2970, "33 ms at 90 kHz");
        let third = enc.encode(&rgba, epoch + Duration::from_millis(66), true).unwrap();
        assert!(third.keyframe, "a keyframe on request");
        for f in [&first, &second, &third] {
            assert!(!f.payloads.is_empty());
            assert!(f.payloads.iter().all(|p| p.len() + RTP_HEADER_BYTES + RTP_SLACK_BYTES <= RTP_MTU));
        }
        // The keyframe starts with SPS and PPS aggregated (STAP-A, NAL type 24).
        assert_eq!(first.payloads[0][0] & 0x1f, 24);
        assert!(enc.encode(&rgba[..100], epoch, false).is_err(), "a short frame is refused");
    }

    #[test]
    fn opus_frames_are_20_ms_and_counted_at_48_khz() {
        let mut enc = OpusStream::new(32).unwrap();
        let tone: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.3).sin() * 0.3).collect();
        let mut frames = Vec::new();
        // 1000 samples in uneven pieces: three whole 320-sample frames, 40 samples kept.
        for piece in tone.chunks(170) {
            enc.push(piece, |f| frames.push(f)).unwrap();
        }
        assert_eq!(frames.len(), 3);
        assert_eq!(frames.iter().map(|f| f.ticks_48k).collect::<Vec<_>>(), [0, 960, 1920]);
        assert!(frames.iter().all(|f| !f.payload.is_empty() && f.payload.len() < 400));
        let mut dec = opus::Decoder::new(SAMPLE_RATE_HZ, opus::Channels::Mono).unwrap();
        let mut out = [0f32; 320];
        assert_eq!(dec.decode_float(&frames[0].payload, &mut out, false).unwrap(), 320);
        assert!(enc.lookahead_secs() > 0.0 && enc.lookahead_secs() < 0.02);
    }

    #[test]
    fn the_sync_marker_is_a_corner_square() {
        let mut rgba = vec![7u8; 64 * 64 * 4];
        paint_sync_marker(&mut rgba, 64, true);
        assert_eq!(&rgba[..4], &[255, 255, 255, 255]);
        let inside = (7 * 64 + 7) * 4;
        assert_eq!(rgba[inside], 255);
        let outside = (8 * 64 + 8) * 4;
        assert_eq!(rgba[outside], 7);
        paint_sync_marker(&mut rgba, 64, false);
        assert_eq!(&rgba[..4], &[0, 0, 0, 255]);
    }
}
