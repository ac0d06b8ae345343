//! A WHEP viewer built on the webrtc crate, for the tests (and examples/whep_viewers.rs, the load
//! benchmark): it offers to receive H.264 and Opus, POSTs the offer to a facecast WHEP endpoint, and
//! counts (or decodes) what arrives.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};

/// What a viewer does with the media.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    /// Counts every packet.
    Count,
    /// Counts, and decodes the video with openh264.
    Decode,
    /// Counts for a while, then stops reading altogether (its packets pile up and are dropped).
    StopAfter(Duration),
}

/// What one viewer received.
#[derive(Default)]
pub struct Received {
    pub video_packets: AtomicU64,
    /// Video frames completed (RTP marker bit).
    pub video_frames: AtomicU64,
    pub audio_packets: AtomicU64,
    /// Frames decoded, and the size of the last one (Decode only).
    pub decoded: AtomicU64,
    pub decoded_size: Mutex<Option<(usize, usize)>>,
    pub decode_errors: AtomicU64,
    /// Arrival of every completed frame.
    pub frame_times: Mutex<Vec<Instant>>,
    pub connected: AtomicBool,
    pub failed: AtomicBool,
}

impl Received {
    /// Frames completed between `from` and `to`.
    pub fn frames_between(&self, from: Instant, to: Instant) -> usize {
        self.frame_times.lock().unwrap().iter().filter(|t| **t >= from && **t < to).count()
    }
}

struct Handler {
    reading: Reading,
    received: Arc<Received>,
    gathered: tokio::sync::watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        match state {
            RTCPeerConnectionState::Connected => self.received.connected.store(true, Ordering::Release),
            RTCPeerConnectionState::Failed => self.received.failed.store(true, Ordering::Release),
            _ => {}
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (reading, received) = (self.reading, Arc::clone(&self.received));
        tokio::spawn(async move {
            let start = Instant::now();
            let mut depacketizer = H264Packet::default();
            let mut annexb = Vec::new();
            let mut decoder = (reading == Reading::Decode).then(|| openh264::decoder::Decoder::new().unwrap());
            while let Some(event) = track.poll().await {
                if let Reading::StopAfter(d) = reading
                    && start.elapsed() > d
                {
                    // Stop reading: hold the track and never poll it again.
                    std::future::pending::<()>().await;
                }
                let TrackRemoteEvent::OnRtpPacket(packet) = event else { continue };
                if packet.header.payload_type == 111 || track.kind().await == RtpCodecKind::Audio {
                    received.audio_packets.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                received.video_packets.fetch_add(1, Ordering::Relaxed);
                if let Some(dec) = decoder.as_mut() {
                    match depacketizer.depacketize(&packet.payload) {
                        Ok(b) => annexb.extend_from_slice(&b),
                        Err(_) => {
                            received.decode_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if packet.header.marker {
                        match dec.decode(&annexb) {
                            Ok(Some(yuv)) => {
                                use openh264::formats::YUVSource;
                                *received.decoded_size.lock().unwrap() = Some(yuv.dimensions());
                                received.decoded.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(None) => {}
                            Err(_) => {
                                received.decode_errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        annexb.clear();
                    }
                }
                if packet.header.marker {
                    received.video_frames.fetch_add(1, Ordering::Relaxed);
                    received.frame_times.lock().unwrap().push(Instant::now());
                }
            }
        });
    }
}

/// A connected viewer.
pub struct Viewer {
    pub pc: Arc<dyn PeerConnection>,
    /// The session URL (the answer's Location).
    pub resource: String,
    pub received: Arc<Received>,
}

/// A receive-only peer connection on loopback and its complete offer.
pub async fn offer(reading: Reading) -> (Arc<dyn PeerConnection>, String, Arc<Received>) {
    let mut media = MediaEngine::default();
    media
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: "video/H264".into(),
                    clock_rate: 90_000,
                    channels: 0,
                    sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f".into(),
                    rtcp_feedback: vec![],
                },
                payload_type: 102,
            },
            RtpCodecKind::Video,
        )
        .unwrap();
    media
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: RTCRtpCodec {
                    mime_type: "audio/opus".into(),
                    clock_rate: 48_000,
                    channels: 2,
                    sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                    rtcp_feedback: vec![],
                },
                payload_type: 111,
            },
            RtpCodecKind::Audio,
        )
        .unwrap();
    let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
    let received = Arc::new(Received::default());
    let (gathered_tx, mut gathered) = tokio::sync::watch::channel(false);
    let handler = Arc::new(Handler { reading, received: Arc::clone(&received), gathered: gathered_tx });
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(SettingEngineBuilder::new().with_multicast_dns_mode(MulticastDnsMode::Disabled).build())
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .unwrap();
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            streams: vec![],
            send_encodings: vec![],
        };
        pc.add_transceiver_from_kind(kind, Some(init)).await.unwrap();
    }
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(3), gathered.wait_for(|g| *g)).await;
    let sdp = pc.local_description().await.unwrap().sdp;
    (pc, sdp, received)
}

/// An HTTP response: status, headers of interest, body.
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub www_authenticate: Option<String>,
    pub body: String,
}

/// One blocking HTTP request to the server.
pub fn request(method: &str, url: &str, content_type: Option<&str>, token: Option<&str>, body: &[u8]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut response = agent.run(req.body(body.to_vec()).unwrap()).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (location, retry_after, www_authenticate) =
        (header("location"), header("retry-after"), header("www-authenticate"));
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Reply { status: response.status().as_u16(), location, retry_after, www_authenticate, body }
}

/// Connects a viewer to `base` (`http://127.0.0.1:PORT`); `Err` holds the server's refusal.
pub async fn connect(base: &str, token: Option<&str>, reading: Reading) -> Result<Viewer, Reply> {
    let (pc, sdp, received) = offer(reading).await;
    let (url, token) = (format!("{base}/whep"), token.map(str::to_owned));
    let reply = tokio::task::spawn_blocking(move || {
        request("POST", &url, Some("application/sdp"), token.as_deref(), sdp.as_bytes())
    })
    .await
    .unwrap();
    if reply.status != 201 {
        let _ = pc.close().await;
        return Err(reply);
    }
    let answer = RTCSessionDescription::answer(reply.body.clone()).unwrap();
    pc.set_remote_description(answer).await.unwrap();
    let resource = format!("{base}{}", reply.location.as_deref().unwrap_or(""));
    Ok(Viewer { pc, resource, received })
}
