//! Any bytes as an audio file, with each extension hint: decoding must end in samples or an error, never
//! a panic, an abort or an allocation the input's size does not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for name in ["x.wav", "x.mp3", "x.flac", "x.ogg", "x.m4a"] {
        let _ = facecast::audio::decode_owned(data.to_vec(), std::path::Path::new(name));
    }
});
