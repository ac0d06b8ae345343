//! The control API: a program (a chatbot, a kiosk's queue system) tells the avatar what to say and
//! learns when it has said it, over HTTP.
//!
//! Input: HTTP requests. Output: their answers, and Server-Sent Events. Thread: tasks on the stream
//! runtime. The routes:
//! - `POST /speak`: an audio file (WAV, MP3, OGG, FLAC; `Content-Type: audio/...`) to say, queued
//!   behind the others; `?interrupt=true` stops the one playing and clears the queue first. `202` with
//!   `{"id": N}`. A chunked body of raw PCM (`audio/L16`) plays as it arrives.
//! - `POST /say` with `{"text": "...", "voice": "..."}`: text to speech (espeak-ng), queued the same way.
//! - `POST /expression` with `{"smile", "brow_raise", "gaze", "head", "blend_secs"}`: held until changed;
//!   `null` gives a value back to the motion.
//! - `DELETE /speak`: stops the speech and clears the queue.
//! - `GET /health`: the state as JSON; `GET /metrics`: Prometheus text; `GET /events`: Server-Sent
//!   Events (`speech_started`, `speech_ended`, `speech_stopped`, each with the id and `audio_t_secs`; `viewer_joined`,
//!   `viewer_left` with the number of viewers); `GET /openapi.json`: an OpenAPI 3 document of all of it.
//!
//! The speech is decoded, checked and queued by the pipeline through [`ControlApi`]; this file knows
//! HTTP only. The token rules are the WHEP server's: loopback needs none; any other address needs a
//! bearer token, or the server refuses to start.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use super::http::{refuse as text, unauthorized};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::{broadcast, watch};

/// Raw PCM arriving in pieces (a chunked `POST /speak` of `audio/L16`): it plays as it comes.
pub trait SpeechStream: Send {
    /// The utterance's id.
    fn id(&self) -> u64;
    /// Adds the next bytes of the body (a piece may end inside a sample).
    ///
    /// # Errors
    /// The status and reason that end the request: too long (413), or stopped meanwhile (409).
    fn push(&mut self, bytes: &[u8]) -> Result<(), (u16, String)>;
    /// The body has ended: the utterance ends where its speech does.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    fn finish(self: Box<Self>) -> Result<(), (u16, String)>;
}

/// What the pipeline does for the API.
pub trait ControlApi: Send + Sync + 'static {
    /// Decodes and queues speech (`interrupt`: stop the one playing and clear the queue first). The
    /// utterance's id, or a refusal: the HTTP status and the reason.
    ///
    /// # Errors
    /// The status (400, 413, 415, 422) and a reason a client can act on.
    fn speak(&self, body: &[u8], content_type: &str, interrupt: bool) -> Result<u64, (u16, String)>;
    /// Queues an utterance of raw PCM (`audio/L16;rate=R;channels=C`) whose samples follow through the
    /// returned stream.
    ///
    /// # Errors
    /// The status (415) and the reason, for a type it cannot stream.
    fn speak_stream(&self, content_type: &str, interrupt: bool) -> Result<Box<dyn SpeechStream>, (u16, String)>;
    /// Speaks `text` through the text-to-speech engine, with `voice` if given, queued as `speak` queues.
    ///
    /// # Errors
    /// The status (400, 413, 422) and a reason a client can act on.
    fn say(&self, text: &str, voice: Option<&str>, interrupt: bool) -> Result<u64, (u16, String)>;
    /// Holds an expression (checked already), and returns what is held now as JSON.
    fn expression(&self, request: &ExpressionRequest) -> serde_json::Value;
    /// Stops the speech and clears the queue.
    fn stop_speech(&self);
    /// The state, for `GET /health`.
    fn health(&self) -> serde_json::Value;
    /// Prometheus text, for `GET /metrics`.
    fn metrics(&self) -> String;
}

/// `POST /expression`'s body. Each field left out keeps what is held; `null` gives it back to the
/// motion (idle, speech); a value is blended in over `blend_secs` and held until changed.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpressionRequest {
    /// 0..1.
    #[serde(default, deserialize_with = "present")]
    pub smile: Option<Option<f32>>,
    /// 0..1.
    #[serde(default, deserialize_with = "present")]
    pub brow_raise: Option<Option<f32>>,
    /// [across, down], each -1..1.
    #[serde(default, deserialize_with = "present")]
    pub gaze: Option<Option<[f32; 2]>>,
    /// The head's angles; `null` releases all three.
    #[serde(default, deserialize_with = "present")]
    pub head: Option<Option<HeadRequest>>,
    /// Seconds to blend over, 0..10; 0.3 when left out.
    #[serde(default)]
    pub blend_secs: Option<f32>,
}

/// `POST /expression`'s `head`: degrees, each left out (kept), `null` (released) or a value.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadRequest {
    /// -30..30; positive turns the nose to the viewer's right.
    #[serde(default, deserialize_with = "present")]
    pub yaw_deg: Option<Option<f32>>,
    /// -20..20; positive tips the nose down.
    #[serde(default, deserialize_with = "present")]
    pub pitch_deg: Option<Option<f32>>,
    /// -20..20; positive turns the face clockwise.
    #[serde(default, deserialize_with = "present")]
    pub roll_deg: Option<Option<f32>>,
}

/// A field that is there, `null` or not: `Some(None)` for `null` (a field left out is `None`, by
/// `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl ExpressionRequest {
    /// The blend when `blend_secs` is left out.
    pub const DEFAULT_BLEND_SECS: f32 = 0.3;

    /// Checks every value given against its range.
    ///
    /// # Errors
    /// The first value out of range, named.
    pub fn check(&self) -> Result<(), String> {
        let within = |name: &str, v: Option<Option<f32>>, lo: f32, hi: f32| match v.flatten() {
            Some(x) if !(lo..=hi).contains(&x) => Err(format!("{name} {x} is out of range {lo}..{hi}")),
            _ => Ok(()),
        };
        within("smile", self.smile, 0.0, 1.0)?;
        within("brow_raise", self.brow_raise, 0.0, 1.0)?;
        within("gaze[0]", self.gaze.map(|g| g.map(|g| g[0])), -1.0, 1.0)?;
        within("gaze[1]", self.gaze.map(|g| g.map(|g| g[1])), -1.0, 1.0)?;
        if let Some(Some(h)) = self.head {
            within("head.yaw_deg", h.yaw_deg, -30.0, 30.0)?;
            within("head.pitch_deg", h.pitch_deg, -20.0, 20.0)?;
            within("head.roll_deg", h.roll_deg, -20.0, 20.0)?;
        }
        within("blend_secs", self.blend_secs.map(Some), 0.0, 10.0)
    }
}

/// The events `GET /events` streams; the pipeline publishes into it, from any thread, never waiting.
#[derive(Clone)]
pub struct ControlEvents(broadcast::Sender<(String, String)>);

impl Default for ControlEvents {
    fn default() -> Self {
        Self(broadcast::channel(64).0)
    }
}

impl ControlEvents {
    /// Sends `event` with its JSON `data` to every listener (none listening: nothing happens).
    pub fn publish(&self, event: &str, data: &serde_json::Value) {
        let _ = self.0.send((event.to_owned(), data.to_string()));
    }
}

/// The largest request body: a few minutes of 16-bit stereo WAV at 48 kHz.
pub const MAX_BODY_BYTES: usize = 64 << 20;

#[derive(Clone)]
struct Ctx {
    api: Arc<dyn ControlApi>,
    events: ControlEvents,
    token: Option<String>,
}

impl Ctx {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        super::http::authorized(self.token.as_deref(), headers)
    }
}

/// `?interrupt=true|false`, the only query `/speak` takes; `None` for anything else.
fn interrupt(uri: &axum::http::Uri) -> Option<bool> {
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else { return Some(false) };
    match query.split_once('=') {
        Some(("interrupt", "true")) => Some(true),
        Some(("interrupt", "false")) => Some(false),
        _ => None,
    }
}

async fn speak(State(ctx): State<Ctx>, uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Body) -> Response {
    if !ctx.authorized(&headers) {
        return unauthorized();
    }
    let Some(interrupt) = interrupt(&uri) else {
        return text(StatusCode::BAD_REQUEST, "the only query parameter is interrupt=true|false");
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let l16 = content_type.split(';').next().is_some_and(|k| k.trim().eq_ignore_ascii_case("audio/L16"));
    if chunked && l16 {
        return speak_streamed(ctx, content_type, interrupt, body).await;
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "the body is over 64 MiB (or broke off)");
    };
    if body.is_empty() {
        return text(StatusCode::BAD_REQUEST, "the body is empty: send an audio file (WAV, MP3, OGG, FLAC)");
    }
    // Decoding is work: off the async workers.
    let api = Arc::clone(&ctx.api);
    let content_type = content_type.to_owned();
    let decoded = tokio::task::spawn_blocking(move || api.speak(&body, &content_type, interrupt)).await;
    match decoded {
        Ok(Ok(id)) => {
            (StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "application/json")], format!("{{\"id\":{id}}}\n"))
                .into_response()
        }
        Ok(Err((status, reason))) => text(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), reason),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the speech could not be read"),
    }
}

/// A chunked body of raw PCM, played as it arrives: each piece goes to the queue at once.
async fn speak_streamed(ctx: Ctx, content_type: &str, interrupt: bool, body: axum::body::Body) -> Response {
    use futures_util::StreamExt as _;
    let mut stream = match ctx.api.speak_stream(content_type, interrupt) {
        Ok(s) => s,
        Err((status, reason)) => return text(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), reason),
    };
    let id = stream.id();
    let mut pieces = body.into_data_stream();
    while let Some(piece) = pieces.next().await {
        let pushed = match piece {
            Ok(bytes) => stream.push(&bytes),
            Err(e) => Err((400, format!("the body broke off: {e}"))),
        };
        if let Err((status, reason)) = pushed {
            // What arrived plays to its end.
            let _ = stream.finish();
            return text(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), reason);
        }
    }
    match stream.finish() {
        Ok(()) => accepted(id),
        Err((status, reason)) => text(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), reason),
    }
}

/// `POST /say`'s body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SayRequest {
    text: String,
    #[serde(default)]
    voice: Option<String>,
}

fn accepted(id: u64) -> Response {
    (StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "application/json")], format!("{{\"id\":{id}}}\n")).into_response()
}

async fn say(State(ctx): State<Ctx>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    if !ctx.authorized(&headers) {
        return unauthorized();
    }
    let Some(interrupt) = interrupt(&uri) else {
        return text(StatusCode::BAD_REQUEST, "the only query parameter is interrupt=true|false");
    };
    let request: SayRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("the body must be JSON {{\"text\": ..., \"voice\": ...}}: {e}"),
            );
        }
    };
    let api = Arc::clone(&ctx.api);
    let spoken = tokio::task::spawn_blocking(move || api.say(&request.text, request.voice.as_deref(), interrupt)).await;
    match spoken {
        Ok(Ok(id)) => accepted(id),
        Ok(Err((status, reason))) => text(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), reason),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the speech could not be made"),
    }
}

async fn expression(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    if !ctx.authorized(&headers) {
        return unauthorized();
    }
    let request: ExpressionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be JSON with smile, brow_raise, gaze [x, y], head {{yaw_deg, pitch_deg, \
                     roll_deg}}, blend_secs: {e}"
                ),
            );
        }
    };
    if let Err(reason) = request.check() {
        return text(StatusCode::UNPROCESSABLE_ENTITY, reason);
    }
    ([(header::CONTENT_TYPE, "application/json")], ctx.api.expression(&request).to_string()).into_response()
}

async fn stop(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !ctx.authorized(&headers) {
        return unauthorized();
    }
    ctx.api.stop_speech();
    StatusCode::NO_CONTENT.into_response()
}

async fn health(State(ctx): State<Ctx>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], ctx.api.health().to_string()).into_response()
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], ctx.api.metrics()).into_response()
}

/// The OpenAPI 3 document of these routes (src/output/stream/openapi.json; a test holds it to them).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

async fn event_stream(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    if !ctx.authorized(&headers) {
        return unauthorized();
    }
    let rx = ctx.events.0.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok((name, data)) => return Some((Ok::<_, Infallible>(Event::default().event(name).data(data)), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The control routes, for a router of their own or beside the viewer page and WHEP.
pub(crate) fn routes(api: Arc<dyn ControlApi>, events: ControlEvents, token: Option<String>) -> Router {
    let ctx = Ctx { api, events, token };
    Router::new()
        .route("/speak", axum::routing::post(speak).delete(stop))
        .route("/say", axum::routing::post(say))
        .route("/expression", axum::routing::post(expression))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/events", get(event_stream))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(ctx)
}

/// Serves `router` on `listener` until `shutdown`.
pub(crate) async fn serve(listener: tokio::net::TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the control server stopped");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route_and_no_other() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "an OpenAPI 3 document");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (path.clone(), m.clone())))
            .collect();
        // The routes as `routes()` above writes them: `.route("/path", get(...))`, `post(...).delete(...)`.
        let mut routed = BTreeSet::new();
        for line in include_str!("control.rs").lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
            let path = line.split('"').nth(1).unwrap().to_owned();
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = [format!("routing::{method}("), format!(".{method}("), format!(", {method}(")];
                if called.iter().any(|c| line.contains(c.as_str())) {
                    routed.insert((path.clone(), method.to_owned()));
                }
            }
        }
        assert!(routed.len() >= 8, "the route lines were not found: {routed:?}");
        assert_eq!(documented, routed, "openapi.json and routes() disagree");
    }

    #[test]
    fn expressions_are_checked_field_by_field() {
        let parse = |s: &str| serde_json::from_str::<ExpressionRequest>(s);
        let ok = parse(r#"{"smile": 0.5, "gaze": null, "head": {"yaw_deg": -30, "roll_deg": null}}"#).unwrap();
        assert_eq!((ok.smile, ok.gaze, ok.brow_raise), (Some(Some(0.5)), Some(None), None));
        let head = ok.head.unwrap().unwrap();
        assert_eq!((head.yaw_deg, head.pitch_deg, head.roll_deg), (Some(Some(-30.0)), None, Some(None)));
        assert!(ok.check().is_ok());
        assert!(parse(r#"{"smile": 0.5, "frown": 1}"#).is_err(), "unknown fields are refused");
        assert!(parse(r#"{"gaze": [0.1]}"#).is_err(), "a gaze is two numbers");
        assert_eq!(parse(r#"{"gaze": [0, 1.5]}"#).unwrap().check().unwrap_err(), "gaze[1] 1.5 is out of range -1..1");
        assert!(parse(r#"{"blend_secs": -1}"#).unwrap().check().unwrap_err().starts_with("blend_secs"));
    }
}
