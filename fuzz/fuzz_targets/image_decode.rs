//! Any bytes as a portrait: decoded (EXIF orientation applied) or refused, sized by its header first.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = facecast::portrait::decode_image(data, "fuzz");
});
