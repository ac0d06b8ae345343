//! The WHEP server (RFC 9725's method, for egress): the viewer page at `/`, `POST /whep` with an SDP
//! offer answers with the SDP answer and a `Location` for the session, `DELETE` on that location ends
//! it. Offers are answered with every candidate in them (no trickle: `PATCH` gets 405).
//!
//! Guards: a bearer token when one is set (and always beyond loopback: see
//! [`StreamServer::start`](super::StreamServer::start)), compared in constant time; request bodies of
//! at most [`MAX_BODY_BYTES`]; at most `max_viewers` sessions, counting those still connecting; an offer
//! that is not SDP, or offers no H.264 video to receive, gets 400 with the reason.
//!
//! Input: HTTP requests. Output: the viewer page, SDP answers, peers. Thread: tasks on the stream runtime.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::http::{refuse, unauthorized};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

use super::peer::{Peer, PeerEnd, RtcSettings};
use super::{MAX_BODY_BYTES, MediaHub, VIEWER_HTML};

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct State(Arc<Inner>);

struct Inner {
    hub: Arc<MediaHub>,
    rtc: RtcSettings,
    token: Option<String>,
    max_viewers: usize,
    /// Live sessions by id; each holds the switch that ends it.
    sessions: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl State {
    pub(crate) fn new(hub: Arc<MediaHub>, rtc: RtcSettings, token: Option<String>, max_viewers: usize) -> Self {
        Self(Arc::new(Inner { hub, rtc, token, max_viewers, sessions: Mutex::new(HashMap::new()) }))
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        // A panic while the lock was held cannot leave the map half-updated: take it as it is.
        self.0.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the request carries the token, when there is one.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        super::http::authorized(self.0.token.as_deref(), headers)
    }
}

/// The router, with the body limit.
pub(crate) fn router(state: State) -> Router {
    Router::new()
        .route("/", get(viewer_page))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/whep", post(offer).options(options).get(|| async { method_not_allowed("OPTIONS, POST") }))
        .route(
            "/whep/{id}",
            axum::routing::delete(delete_session)
                .patch(|| async { method_not_allowed("DELETE") })
                .get(|| async { method_not_allowed("DELETE") }),
        )
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "not found: the viewer page is at /, WHEP at /whep") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until `shutdown` turns true, then ends every session.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: State,
    extra: Option<Router>,
    mut shutdown: watch::Receiver<bool>,
) {
    let routes = match extra {
        Some(extra) => router(state.clone()).merge(extra),
        None => router(state.clone()),
    };
    let app = routes.into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = shutdown.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the WHEP server stopped");
    }
    let _ = shutdown.wait_for(|s| *s).await;
    for (_, stop) in state.sessions().drain() {
        let _ = stop.send(true);
    }
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut r = refuse(StatusCode::METHOD_NOT_ALLOWED, format!("allowed: {allow}"));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

async fn viewer_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        VIEWER_HTML,
    )
        .into_response()
}

async fn options() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::ALLOW, "OPTIONS, POST"), (header::HeaderName::from_static("accept-post"), "application/sdp")],
    )
        .into_response()
}

/// Checks that an offer is SDP and asks to receive H.264 video that facecast can send.
///
/// # Errors
/// The reason, for a 400.
pub fn check_offer(sdp: &str) -> Result<(), String> {
    let parsed = webrtc::peer_connection::RTCSessionDescription::offer(sdp.to_owned())
        .and_then(|d| d.unmarshal())
        .map_err(|e| format!("the body is not an SDP offer: {e}"))?;
    let video: Vec<_> = parsed.media_descriptions.iter().filter(|m| m.media_name.media == "video").collect();
    if video.is_empty() {
        return Err("the offer has no video section (m=video)".into());
    }
    let receives = |m: &&rtc::sdp::description::media::MediaDescription| {
        !(m.has_attribute("sendonly") || m.has_attribute("inactive"))
    };
    let h264 = |m: &&rtc::sdp::description::media::MediaDescription| {
        m.codecs().values().any(|c| c.name.eq_ignore_ascii_case("H264") && c.fmtp.contains("packetization-mode=1"))
    };
    if !video.iter().any(receives) {
        return Err("the offer's video is send-only or inactive: a WHEP offer receives (recvonly)".into());
    }
    if !video.iter().any(h264) {
        return Err(
            "the offer has no H.264 with packetization-mode=1; facecast sends H.264 constrained baseline".into()
        );
    }
    Ok(())
}

async fn offer(
    AxumState(state): AxumState<State>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.authorized(&headers) {
        return unauthorized();
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp")) {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the offer must be sent as Content-Type: application/sdp");
    }
    let Ok(sdp) = String::from_utf8(body.to_vec()) else {
        return refuse(StatusCode::BAD_REQUEST, "the offer is not UTF-8 text");
    };
    if let Err(reason) = check_offer(&sdp) {
        return refuse(StatusCode::BAD_REQUEST, reason);
    }
    // Take a slot before the slow part, so concurrent offers cannot pass the cap together.
    let id = session_id();
    let (stop, stop_rx) = watch::channel(false);
    {
        let mut sessions = state.sessions();
        if sessions.len() >= state.0.max_viewers {
            let mut r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the viewer limit ({}) is reached; try again later", state.0.max_viewers),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            return r;
        }
        sessions.insert(id.clone(), stop);
    }
    // The session runs on a task of its own: a client that hangs up while its offer is answered leaves
    // a peer that never connects, which ends after the connect timeout and frees its slot.
    let (answered_tx, answered) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    let task_id = id.clone();
    tokio::spawn(async move {
        let answer = match Peer::new(&task_state.0.rtc, false).await {
            Err(e) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot make a peer connection: {e}"))),
            Ok(mut peer) => match peer.answer(sdp).await {
                Ok(answer) => Ok((peer, answer)),
                Err(e) => {
                    peer.close().await;
                    Err(refuse(StatusCode::BAD_REQUEST, format!("cannot accept the offer: {e}")))
                }
            },
        };
        let peer = match answer {
            Ok((peer, answer)) => {
                let _ = answered_tx.send(Ok(answer));
                peer
            }
            Err(response) => {
                task_state.sessions().remove(&task_id);
                let _ = answered_tx.send(Err(response));
                return;
            }
        };
        tracing::info!(%remote, session = %&task_id[..8], "WHEP viewer joined");
        let end = peer.run(Arc::clone(&task_state.0.hub), stop_rx).await;
        peer.close().await;
        task_state.sessions().remove(&task_id);
        match end {
            PeerEnd::Shutdown => tracing::debug!(session = %&task_id[..8], "WHEP viewer closed"),
            PeerEnd::Gone(why) => tracing::info!(session = %&task_id[..8], %why, "WHEP viewer left"),
        }
    });
    let answer = match answered.await {
        Ok(Ok(answer)) => answer,
        Ok(Err(response)) => return response,
        Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the session task failed"),
    };
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, format!("/whep/{id}")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        answer,
    )
        .into_response()
}

async fn delete_session(AxumState(state): AxumState<State>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !state.authorized(&headers) {
        return unauthorized();
    }
    match state.sessions().remove(&id) {
        Some(stop) => {
            let _ = stop.send(true);
            StatusCode::OK.into_response()
        }
        None => refuse(StatusCode::NOT_FOUND, "no such WHEP session"),
    }
}

/// A session id nobody can guess: 128 bits from the operating system.
fn session_id() -> String {
    let words =
        [super::peer::random_u32(), super::peer::random_u32(), super::peer::random_u32(), super::peer::random_u32()];
    words.iter().map(|w| format!("{w:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LIKE_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
a=msid-semantic: WMS\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n";

    #[test]
    fn a_recvonly_h264_offer_passes() {
        check_offer(CHROME_LIKE_OFFER).unwrap();
    }

    #[test]
    fn bad_offers_are_refused_with_a_reason() {
        assert!(check_offer("hello").unwrap_err().contains("not an SDP offer"));
        assert!(check_offer("").unwrap_err().contains("not an SDP offer"));
        let no_h264 = CHROME_LIKE_OFFER.replace("H264", "H265");
        assert!(check_offer(&no_h264).unwrap_err().contains("no H.264"));
        let mode0 = CHROME_LIKE_OFFER.replace("packetization-mode=1", "packetization-mode=0");
        assert!(check_offer(&mode0).unwrap_err().contains("no H.264"));
        let sending = CHROME_LIKE_OFFER.replacen("a=recvonly", "a=sendonly", 1);
        assert!(check_offer(&sending).unwrap_err().contains("send-only"));
        let audio_only = CHROME_LIKE_OFFER.replace("m=video", "m=text");
        assert!(check_offer(&audio_only).unwrap_err().contains("no video"));
    }

    #[test]
    fn the_token_is_checked() {
        let hub = MediaHub::new(std::time::Instant::now());
        let rtc = RtcSettings::new(&crate::config::StreamConfig::default(), (512, 512));
        let state = State::new(hub, rtc, Some("s3cret".into()), 4);
        let mut h = HeaderMap::new();
        assert!(!state.authorized(&h));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer wrong"));
        assert!(!state.authorized(&h));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(state.authorized(&h));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic s3cret"));
        assert!(!state.authorized(&h));
    }

    #[test]
    fn session_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (session_id(), session_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
