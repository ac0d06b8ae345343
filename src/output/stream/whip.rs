//! The WHIP client (RFC 9725): pushes the avatar to a media server, which does the fan-out to many
//! viewers. It offers one send-only H.264 and one send-only Opus track with every candidate in the
//! offer, `POST`s it with the bearer token, takes the answer, and deletes the session (`DELETE` on its
//! `Location`) when it stops. A refused or broken session is retried, one second after the first
//! failure and up to 30 s apart after more.
//!
//! Input: the hub's media and a WHIP URL. Output: one pushed session, kept up. Thread: tasks on the stream runtime
//! (its HTTP on a blocking task).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::peer::{Peer, PeerEnd, RtcSettings};
use super::{MediaHub, StreamError};

/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A session that lasted this long resets the back-off.
const STABLE: Duration = Duration::from_secs(10);
/// How long one HTTP exchange with the WHIP server may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Pushes to one WHIP endpoint until shut down.
pub(crate) struct Push {
    url: String,
    token: Option<String>,
    hub: Arc<MediaHub>,
    rtc: RtcSettings,
}

impl Push {
    pub(crate) fn new(url: String, token: Option<String>, hub: Arc<MediaHub>, rtc: RtcSettings) -> Self {
        // A server on this machine is reached from loopback; any other from every interface.
        let loopback = url
            .parse::<ureq::http::Uri>()
            .ok()
            .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()))
            .is_some_and(|h| h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()));
        let rtc = if loopback { rtc.with_ice_ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)) } else { rtc };
        Self { url, token: token.filter(|t| !t.is_empty()), hub, rtc }
    }

    /// Pushes, and pushes again after every failure, until `shutdown` turns true.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        while !*shutdown.borrow() {
            let started = Instant::now();
            match self.session(&shutdown).await {
                Ok(PeerEnd::Shutdown) => break,
                Ok(PeerEnd::Gone(why)) => tracing::warn!(url = %self.url, %why, "WHIP session ended; pushing again"),
                Err(e) => tracing::warn!(error = %e, "WHIP push failed; retrying in {} s", backoff.as_secs()),
            }
            if started.elapsed() >= STABLE {
                backoff = Duration::from_secs(1);
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn session(&self, shutdown: &watch::Receiver<bool>) -> Result<PeerEnd, StreamError> {
        let mut peer = Peer::new(&self.rtc, true).await?;
        let offer = match peer.offer().await {
            Ok(o) => o,
            Err(e) => {
                peer.close().await;
                return Err(e);
            }
        };
        let (url, token) = (self.url.clone(), self.token.clone());
        let posted = tokio::task::spawn_blocking(move || post_offer(&url, token.as_deref(), &offer))
            .await
            .map_err(|e| self.whip_err(format!("the HTTP task failed: {e}")))?;
        let (answer, resource) = match posted {
            Ok(r) => r,
            Err(e) => {
                peer.close().await;
                return Err(e);
            }
        };
        tracing::debug!(%answer, "WHIP answer");
        if let Err(e) = peer.accept(answer).await {
            peer.close().await;
            self.delete(resource).await;
            return Err(e);
        }
        tracing::info!(url = %self.url, "WHIP: pushing");
        let end = peer.run(Arc::clone(&self.hub), shutdown.clone()).await;
        // The server first, then the connection: a server that sees the connection go first may end
        // the session itself and answer the DELETE with 404.
        self.delete(resource).await;
        peer.close().await;
        Ok(end)
    }

    /// Ends the session at the server; a failure is only logged (the server times it out anyway).
    async fn delete(&self, resource: String) {
        let token = self.token.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut req = agent().delete(&resource);
            if let Some(t) = &token {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
            req.call().map(|r| r.status()).map_err(|e| e.to_string())
        })
        .await;
        match done {
            Ok(Ok(status)) if status.is_success() => tracing::debug!("WHIP session deleted"),
            Ok(Ok(status)) => tracing::warn!(%status, "WHIP server refused to delete the session"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot delete the WHIP session"),
            Err(e) => tracing::warn!(error = %e, "cannot delete the WHIP session"),
        }
    }

    fn whip_err(&self, reason: String) -> StreamError {
        StreamError::Whip { url: self.url.clone(), reason }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(HTTP_TIMEOUT)).http_status_as_error(false).build().into()
}

/// POSTs the offer; returns the answer and the session's absolute URL.
fn post_offer(url: &str, token: Option<&str>, offer: &str) -> Result<(String, String), StreamError> {
    let err = |reason: String| StreamError::Whip { url: url.to_owned(), reason };
    let mut req = agent().post(url).header("Content-Type", "application/sdp");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut response = req.send(offer).map_err(|e| err(e.to_string()))?;
    let status = response.status();
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.body_mut().with_config().limit(super::MAX_BODY_BYTES as u64).read_to_string();
    if !status.is_success() {
        let text = body.unwrap_or_default();
        return Err(err(format!("{status}: {}", text.trim())));
    }
    let answer = body.map_err(|e| err(format!("cannot read the answer: {e}")))?;
    let location = location.ok_or_else(|| err("the answer has no Location header".into()))?;
    Ok((answer, resolve(url, &location)))
}

/// `location` made absolute against `base` (RFC 3986 reference resolution for the forms servers send:
/// absolute, absolute path, or relative to the base's folder).
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let Ok(uri) = base.parse::<ureq::http::Uri>() else { return location.to_owned() };
    let origin = format!("{}://{}", uri.scheme_str().unwrap_or("http"), uri.authority().map_or("", |a| a.as_str()));
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = uri.path();
    let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("{origin}{folder}{location}")
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn locations_are_resolved_against_the_endpoint() {
        let base = "http://127.0.0.1:7080/whip/endpoint/abc";
        assert_eq!(resolve(base, "/whip/resource/abc"), "http://127.0.0.1:7080/whip/resource/abc");
        assert_eq!(resolve(base, "resource/1"), "http://127.0.0.1:7080/whip/endpoint/resource/1");
        assert_eq!(resolve(base, "https://sfu.example/r/1"), "https://sfu.example/r/1");
    }
}
