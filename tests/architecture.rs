//! The architecture invariants of ARCHITECTURE.md, held by reading the code (in the manner of
//! rust-analyzer's tidy tests): which module may name which, where the audio clock's numbers may be
//! written, and what every module's opening comment says.
//!
//! The floors, from the ground up:
//! - the ground floor (`vocab`, `queue`, `gpu`, `onnx`, `config`, `assets`, `process`, `text`) names no stage and not the
//!   pipeline; `vocab` names nothing of the crate at all;
//! - the stages (`audio`, `features`, `motion`, `portrait`, `render`, `output`) stand side by side: each
//!   names the ground floor only, never another stage or the pipeline;
//! - `pipeline` wires them; `main.rs` names only `pipeline`, `vocab` and `config`.
//!
//! Each checker is a function over source text, and is itself tested on made-up sources, so that a rule
//! that stopped matching anything would fail here too.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const STAGES: [&str; 6] = ["audio", "features", "motion", "portrait", "render", "output"];
const GROUND: [&str; 8] = ["vocab", "queue", "gpu", "onnx", "config", "assets", "process", "text"];
/// The audio clock's home: the only file that may write the sample rate or the hop as a number.
const CLOCK_HOME: &str = "vocab/clock.rs";

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The source without comments (line comments, doc comments and block comments) and without the
/// contents of string literals, so that prose and messages never count as code.
fn code_only(src: &str) -> String {
    let (mut out, mut chars) = (String::with_capacity(src.len()), src.chars().peekable());
    let (mut in_str, mut block) = (false, 0usize);
    while let Some(c) = chars.next() {
        if block > 0 {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                block -= 1;
            } else if c == '/' && chars.peek() == Some(&'*') {
                chars.next();
                block += 1;
            }
            continue;
        }
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                '\n' => out.push('\n'),
                _ => {}
            }
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                block = 1;
            }
            '"' => {
                in_str = true;
                out.push('"');
            }
            // A char literal ('"' or '\'') must not open a string.
            '\'' if chars.clone().nth(1) == Some('\'') || chars.peek() == Some(&'\\') => {
                out.push('\'');
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The top-level modules of the crate that `code` names through `crate::` (or, in the binary,
/// `facecast::`), each with the first line that names it.
fn named_modules(code: &str, root: &str) -> Vec<(String, usize)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let prefix = format!("{root}::");
    for (line_no, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find(&prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            // `crate::{a, b::c}` names each of a and b.
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end]
                    .split(',')
                    .filter_map(|s| s.trim().split("::").next().map(str::trim).map(str::to_owned))
                    .filter(|s| !s.is_empty())
                    .collect()
            } else {
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
                vec![rest[..end].to_owned()]
            };
            for name in names {
                if seen.insert(name.clone()) {
                    out.push((name, line_no + 1));
                }
            }
        }
    }
    out
}

/// The top-level module a file under src/ belongs to (`"main"` for the binary).
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// What module `from` may not name `to`, if that breaks a floor; `None` where it may.
fn forbidden(from: &str, to: &str) -> Option<&'static str> {
    let stage = |m: &str| STAGES.contains(&m);
    let ground = |m: &str| GROUND.contains(&m);
    if from == to {
        return None;
    }
    match from {
        "vocab" => Some("vocab/ is the ground floor's ground: it names nothing of the crate"),
        f if ground(f) && (stage(to) || to == "pipeline") => {
            Some("the ground floor names no stage and not the pipeline")
        }
        f if stage(f) && stage(to) => Some("a stage names no other stage (the pipeline wires them)"),
        f if stage(f) && to == "pipeline" => Some("a stage never names the pipeline that wires it"),
        "main" if !["pipeline", "vocab", "config", "Config"].contains(&to) => {
            Some("main.rs only parses arguments and calls the pipeline")
        }
        _ => None,
    }
}

/// Every broken floor in the file `rel` (path under src/) with source `src`.
fn import_violations(rel: &Path, src: &str) -> Vec<String> {
    let from = module_of(rel);
    let root = if from == "main" { "facecast" } else { "crate" };
    named_modules(&code_only(src), root)
        .into_iter()
        .filter_map(|(to, line)| {
            forbidden(&from, &to).map(|why| format!("src/{}:{line}: {from} names {to}: {why}", rel.display()))
        })
        .collect()
}

/// Every literal 16000 (the sample rate) or 0.01 (the hop, seconds) in the code of `src`, as line numbers.
fn clock_literals(src: &str) -> Vec<usize> {
    let code = code_only(src);
    let mut out = Vec::new();
    for (line_no, line) in code.lines().enumerate() {
        let bytes = line.as_bytes();
        let is_num = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
        for (i, _) in line.char_indices() {
            let boundary_before = i == 0 || !is_num(bytes[i - 1]);
            if !boundary_before {
                continue;
            }
            let rest = &line[i..];
            let token_len =
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
            let token = rest[..token_len].trim_end_matches('.');
            let digits: String = token.chars().filter(|&c| c != '_').collect();
            let digits = digits.trim_end_matches("f64").trim_end_matches("f32").trim_end_matches("u32");
            let digits = digits.trim_end_matches("usize").trim_end_matches("u64");
            if matches!(digits, "16000" | "16000.0" | "0.01") {
                out.push(line_no + 1);
            }
        }
    }
    out
}

/// Whether a file's opening comment (its leading `//!` lines) says its input, its output and its thread.
fn says_inputs_outputs_thread(src: &str) -> bool {
    let opening: String =
        src.lines().take_while(|l| l.starts_with("//!")).map(|l| l.to_ascii_lowercase()).collect::<Vec<_>>().join(" ");
    !opening.is_empty() && opening.contains("input") && opening.contains("output") && opening.contains("thread")
}

fn src_files() -> Vec<(PathBuf, String)> {
    let src = common::root().join("src");
    rust_files(&src)
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(&src).unwrap().to_owned(), text)
        })
        .collect()
}

#[test]
fn stages_stand_side_by_side_and_main_only_calls_the_pipeline() {
    let violations: Vec<String> = src_files().iter().flat_map(|(rel, src)| import_violations(rel, src)).collect();
    assert!(violations.is_empty(), "modules name what their floor may not:\n{}", violations.join("\n"));
}

#[test]
fn the_audio_clock_is_written_down_once() {
    let mut found = Vec::new();
    for (rel, src) in src_files() {
        if rel != Path::new(CLOCK_HOME) {
            found.extend(clock_literals(&src).into_iter().map(|l| format!("src/{}:{l}", rel.display())));
        }
    }
    assert!(
        found.is_empty(),
        "a literal 16000 or 0.01 outside {CLOCK_HOME} (use vocab::clock; write a tolerance as 1e-2):\n{}",
        found.join("\n")
    );
    let home = std::fs::read_to_string(common::root().join("src").join(CLOCK_HOME)).unwrap();
    assert!(!clock_literals(&home).is_empty(), "{CLOCK_HOME} no longer defines the rate: the rule checks nothing");
}

#[test]
fn every_module_says_its_inputs_outputs_and_thread() {
    let missing: Vec<String> = src_files()
        .into_iter()
        .filter(|(_, src)| !says_inputs_outputs_thread(src))
        .map(|(rel, _)| format!("src/{}", rel.display()))
        .collect();
    assert!(missing.is_empty(), "opening comments that do not say input, output and thread:\n{}", missing.join("\n"));
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = src_files()
        .into_iter()
        .filter(|(_, src)| src.lines().count() > 600)
        .map(|(rel, src)| format!("src/{}: {} lines", rel.display(), src.lines().count()))
        .collect();
    assert!(long.is_empty(), "files over 600 lines (split them by job):\n{}", long.join("\n"));
}

/// Libraries that only one room may name: the crate, and the paths (under src/) that may.
const LIBRARY_ROOMS: [(&str, &[&str]); 15] = [
    ("font8x8", &["text.rs"]),
    ("rosc", &["output/vmc.rs"]),
    ("nokhwa", &["portrait/camera.rs"]),
    ("v4l", &["output/v4l2.rs"]),
    ("openh264", &["output/"]),
    ("winit", &["output/window.rs"]),
    ("cpal", &["audio/"]),
    ("symphonia", &["audio/"]),
    ("rubato", &["audio/"]),
    ("nnnoiseless", &["audio/"]),
    ("rustfft", &["features/"]),
    ("webrtc", &["output/stream/"]),
    ("rtc", &["output/stream/"]),
    ("axum", &["output/stream/"]),
    ("opus", &["output/stream/"]),
];

/// Whether `code` names the crate `lib` (`lib::` as a path's first segment).
fn names_library(code: &str, lib: &str) -> bool {
    let needle = format!("{lib}::");
    code.match_indices(&needle)
        .any(|(i, _)| code[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')))
}

#[test]
fn each_library_stays_in_its_room() {
    let mut found = Vec::new();
    let mut used = [false; LIBRARY_ROOMS.len()];
    for (rel, src) in src_files() {
        let code = code_only(&src);
        let path = rel.to_string_lossy().replace('\\', "/");
        for (i, (lib, rooms)) in LIBRARY_ROOMS.iter().enumerate() {
            if names_library(&code, lib) {
                if rooms.iter().any(|room| path.starts_with(room)) {
                    used[i] = true;
                } else {
                    found.push(format!("src/{path} names {lib} (only {} may)", rooms.join(", ")));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert!(used.iter().all(|&u| u), "a library left its room: the rule checks nothing for it");
}

/// Calls that only one file may make: opening a GPU device, loading ONNX Runtime's sessions.
const ONE_HOME: [(&str, &str); 4] = [
    ("request_adapter(", "gpu.rs"),
    ("request_device(", "gpu.rs"),
    ("Session::builder(", "onnx.rs"),
    ("ort::init_from(", "onnx.rs"),
];

#[test]
fn the_gpu_and_the_onnx_runtime_are_opened_in_one_place_each() {
    let mut found = Vec::new();
    let mut homes_use_them = [false; ONE_HOME.len()];
    for (rel, src) in src_files() {
        let code = code_only(&src);
        for (i, (call, home)) in ONE_HOME.iter().enumerate() {
            if code.contains(call) {
                if rel == Path::new(home) {
                    homes_use_them[i] = true;
                } else {
                    found.push(format!("src/{} calls {call} (only src/{home} may)", rel.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert!(homes_use_them.iter().all(|&u| u), "a home no longer makes its call: the rule checks nothing");
}

/// The checkers themselves, on made-up sources: each rule fires where it should and nowhere else.
#[test]
fn the_checkers_catch_what_they_are_for() {
    let motion = Path::new("motion/mod.rs");
    let bad = "use crate::render::WarpRenderer;\nfn f() { crate::audio::decode_file(p); }\n";
    let v = import_violations(motion, bad);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("motion names render") && v[1].contains("motion names audio"), "{v:?}");
    let grouped = "use crate::{vocab::MotionParams, portrait::Rig};\n";
    assert_eq!(import_violations(motion, grouped).len(), 1, "a grouped import is read too");
    let fine = "use crate::vocab::{MotionParams, clock::HOP_SECS};\nuse crate::onnx::ModelSource;\n\
                // crate::render is mentioned in prose\nlet s = \"crate::output in a string\";\n";
    assert!(import_violations(motion, fine).is_empty(), "{:?}", import_violations(motion, fine));
    assert_eq!(import_violations(Path::new("vocab/face.rs"), "use crate::config::X;\n").len(), 1);
    assert_eq!(import_violations(Path::new("gpu.rs"), "use crate::render::X;\n").len(), 1);
    assert!(
        import_violations(Path::new("pipeline/mod.rs"), "use crate::render::X;\nuse crate::audio::Y;\n").is_empty()
    );
    assert_eq!(import_violations(Path::new("main.rs"), "use facecast::render::WarpRenderer;\n").len(), 1);
    assert!(import_violations(Path::new("main.rs"), "use facecast::pipeline::live::LiveJob;\n").is_empty());

    assert_eq!(clock_literals("let r = 16_000;\nlet d = 0.01;\nlet x = 16000.0f64;\n"), [1, 2, 3]);
    assert!(clock_literals("let a = 160_000; let b = 0.015; let c = 10.01; let d = 1e-2; // 16000\n").is_empty());
    assert!(clock_literals("let s = \"s16le:16000:1\";\n").is_empty(), "strings are not code");

    assert!(names_library("use nokhwa::Camera;", "nokhwa") && names_library("x = opus::Encoder::new()", "opus"));
    assert!(!names_library("use crate::output::stream::OpusStream;", "opus"), "a path segment elsewhere is not it");
    assert!(!names_library("let s = webrtc_like::x;", "webrtc"));
    assert!(says_inputs_outputs_thread("//! A thing.\n//!\n//! Input: a. Output: b. Thread: c.\n\nfn f() {}\n"));
    assert!(!says_inputs_outputs_thread("//! A thing with no more to say.\n"));
    assert!(!says_inputs_outputs_thread("fn f() {}\n//! Input Output Thread\n"));
}
