//! Any text as the body of a WHEP offer: the SDP check the HTTP handler runs before it builds a peer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = std::str::from_utf8(data) {
        let _ = facecast::output::stream::check_offer(sdp);
    }
});
