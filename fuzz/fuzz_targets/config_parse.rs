//! Any text as a config file: it parses or not, and what parses validates or not, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cfg) = toml::from_str::<facecast::Config>(text)
    {
        let _ = cfg.validate();
    }
});
