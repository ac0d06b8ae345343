//! Speech handed over by a program (`--input api`): utterances queued by the control API, played one
//! after another in real time, with silence between them so that the avatar idles.
//!
//! Input: [`Utterance`]s (16 kHz mono) pushed onto a [`SpeechQueue`] by the control API's thread.
//! Output: 10 ms blocks of 16 kHz mono, released on the wall clock, and a [`SpeechEvent`] as each
//! utterance starts and ends. Thread: the live loop's audio thread reads it; the queue's lock is held
//! only to take or put an utterance (never by an audio callback).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{BlockStamp, LiveAudioError, LiveSource, SourceRead};
use crate::vocab::clock::{HOP_SAMPLES, SAMPLE_RATE_HZ, secs_from_samples};

/// One piece of speech to play.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Its id, as the API gave it out.
    pub id: u64,
    /// The speech, 16 kHz mono.
    pub samples: Vec<f32>,
    /// When its request arrived.
    pub requested: Instant,
    /// More samples may come ([`SpeechQueue::append`]): a streamed body still arriving. It does not end
    /// while open; where its samples run out it waits in silence.
    pub open: bool,
}

/// Where an utterance began in the source's stream: for the delay from a request to the first frame that
/// shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UtteranceStart {
    /// Its place in the stream, seconds from the source's first sample (as `audio_t_secs` counts).
    pub at_secs: f64,
    /// When its request arrived.
    pub requested: Instant,
}

/// What the source tells as it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechEvent {
    /// The utterance's first sample went out.
    Started(u64),
    /// Its last sample went out.
    Ended(u64),
    /// It was stopped before its end (an interruption).
    Stopped(u64),
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Utterance>,
    /// The utterance playing, and how far.
    playing: Option<(Utterance, usize)>,
    /// Stop the one playing at the next block.
    stop_playing: bool,
    /// Where utterances began, not yet taken by [`SpeechQueue::take_starts`] (at most the last 16).
    starts: VecDeque<UtteranceStart>,
}

/// The utterances waiting and the one playing, shared by the API and the audio thread.
#[derive(Default)]
pub struct SpeechQueue {
    queue: Mutex<Queue>,
    next_id: AtomicU64,
    total: AtomicU64,
}

impl SpeechQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh id for an utterance.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Queues `u` behind the others; with `interrupt`, stops the one playing and clears the queue first.
    pub fn push(&self, u: Utterance, interrupt: bool) {
        let mut q = self.lock();
        if interrupt {
            q.waiting.clear();
            q.stop_playing = q.playing.is_some();
        }
        q.waiting.push_back(u);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends `samples` to the open utterance `id` (waiting or playing), closing it with `done`. False
    /// when it is gone (stopped, or never queued): the caller stops sending.
    pub fn append(&self, id: u64, samples: &[f32], done: bool) -> bool {
        let mut q = self.lock();
        let Queue { waiting, playing, .. } = &mut *q;
        let found = playing.as_mut().map(|(u, _)| u).into_iter().chain(waiting.iter_mut()).find(|u| u.id == id);
        match found {
            Some(u) if u.open => {
                u.samples.extend_from_slice(samples);
                u.open = !done;
                true
            }
            _ => false,
        }
    }

    /// Stops the one playing and clears the queue.
    pub fn stop_all(&self) {
        let mut q = self.lock();
        q.waiting.clear();
        q.stop_playing = q.playing.is_some();
    }

    /// Utterances waiting (not the one playing).
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Whether one is playing.
    pub fn speaking(&self) -> bool {
        self.lock().playing.is_some()
    }

    /// Utterances queued since the start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The utterances that have begun since the last call, oldest first.
    pub fn take_starts(&self) -> Vec<UtteranceStart> {
        self.lock().starts.drain(..).collect()
    }
}

/// The source the live loop reads: the queue's speech, or silence, on the wall clock.
pub struct ApiSource {
    queue: std::sync::Arc<SpeechQueue>,
    on_event: Box<dyn FnMut(SpeechEvent) + Send>,
    start: Option<Instant>,
    released: u64,
}

impl ApiSource {
    /// A source playing `queue`, telling `on_event` as each utterance starts and ends.
    pub fn new(queue: std::sync::Arc<SpeechQueue>, on_event: Box<dyn FnMut(SpeechEvent) + Send>) -> Self {
        Self { queue, on_event, start: None, released: 0 }
    }

    /// Fills one block: the playing utterance's next samples, the next one's start, or silence.
    fn fill(&mut self, out: &mut Vec<f32>) {
        let mut events = Vec::new();
        let block_start = out.len();
        {
            let mut q = self.queue.lock();
            if q.stop_playing {
                q.stop_playing = false;
                if let Some((u, _)) = q.playing.take() {
                    events.push(SpeechEvent::Stopped(u.id));
                }
            }
            let mut left = HOP_SAMPLES;
            while left > 0 {
                if q.playing.is_none() {
                    match q.waiting.pop_front() {
                        Some(u) => {
                            events.push(SpeechEvent::Started(u.id));
                            let at = self.released as usize + (out.len() - block_start);
                            if q.starts.len() == 16 {
                                q.starts.pop_front();
                            }
                            q.starts
                                .push_back(UtteranceStart { at_secs: secs_from_samples(at), requested: u.requested });
                            q.playing = Some((u, 0));
                        }
                        None => break,
                    }
                }
                let Some((u, pos)) = q.playing.as_mut() else { break };
                let take = left.min(u.samples.len() - *pos);
                out.extend_from_slice(&u.samples[*pos..*pos + take]);
                *pos += take;
                left -= take;
                if *pos == u.samples.len() {
                    if u.open {
                        // Streamed speech that has not arrived yet: silence until it does.
                        break;
                    }
                    events.push(SpeechEvent::Ended(u.id));
                    q.playing = None;
                }
            }
            out.resize(out.len() + left, 0.0);
        }
        self.released += HOP_SAMPLES as u64;
        for e in events {
            (self.on_event)(e);
        }
    }
}

impl LiveSource for ApiSource {
    fn name(&self) -> &str {
        "api"
    }

    fn rate_hz(&self) -> u32 {
        SAMPLE_RATE_HZ
    }

    fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Result<SourceRead, LiveAudioError> {
        let start = *self.start.get_or_insert_with(Instant::now);
        if !super::wait_until_due(start, self.released + HOP_SAMPLES as u64, timeout) {
            return Ok(SourceRead::Timeout);
        }
        self.fill(out);
        Ok(SourceRead::Samples(BlockStamp { arrival: Instant::now(), host_delay: None }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn utterances_play_in_order_between_silences_and_an_interruption_stops_the_one_playing() {
        let queue = Arc::new(SpeechQueue::default());
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let mut src = ApiSource::new(Arc::clone(&queue), Box::new(move |e| seen.lock().unwrap().push(e)));
        let mut out = Vec::new();
        src.fill(&mut out);
        assert_eq!(out, vec![0.0; HOP_SAMPLES], "silence while nothing is queued");
        let (a, b) = (queue.next_id(), queue.next_id());
        queue.push(Utterance { id: a, samples: vec![0.5; 200], requested: Instant::now(), open: false }, false);
        queue.push(Utterance { id: b, samples: vec![0.25; 100], requested: Instant::now(), open: false }, false);
        assert_eq!((queue.waiting(), queue.total()), (2, 2));
        out.clear();
        src.fill(&mut out);
        src.fill(&mut out);
        // 200 samples of a, then 100 of b straight after, then silence.
        assert_eq!(out[..200], [0.5; 200]);
        assert_eq!(out[200..300], [0.25; 100]);
        assert!(out[300..].iter().all(|&s| s == 0.0));
        // a began one hop into the stream (after the block of silence), b 200 samples later.
        let at: Vec<f64> = queue.take_starts().iter().map(|s| s.at_secs).collect();
        assert_eq!(at, [secs_from_samples(HOP_SAMPLES), secs_from_samples(HOP_SAMPLES + 200)]);
        assert_eq!(
            *events.lock().unwrap(),
            [SpeechEvent::Started(a), SpeechEvent::Ended(a), SpeechEvent::Started(b), SpeechEvent::Ended(b)]
        );
        let c = queue.next_id();
        queue.push(Utterance { id: c, samples: vec![0.1; 10_000], requested: Instant::now(), open: false }, false);
        src.fill(&mut out);
        assert!(queue.speaking());
        let d = queue.next_id();
        queue.push(Utterance { id: d, samples: vec![0.2; 50], requested: Instant::now(), open: false }, true);
        out.clear();
        src.fill(&mut out);
        assert_eq!(out[..50], [0.2; 50], "the interruption plays at once");
        assert_eq!(
            events.lock().unwrap()[4..],
            [SpeechEvent::Started(c), SpeechEvent::Stopped(c), SpeechEvent::Started(d), SpeechEvent::Ended(d)]
        );
    }

    #[test]
    fn a_streamed_utterance_waits_in_silence_for_more_and_ends_when_closed() {
        let queue = Arc::new(SpeechQueue::default());
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let mut src = ApiSource::new(Arc::clone(&queue), Box::new(move |e| seen.lock().unwrap().push(e)));
        let id = queue.next_id();
        queue.push(Utterance { id, samples: vec![0.5; 100], requested: Instant::now(), open: true }, false);
        let mut out = Vec::new();
        src.fill(&mut out);
        src.fill(&mut out);
        assert_eq!(out[..100], [0.5; 100]);
        assert!(out[100..].iter().all(|&s| s == 0.0), "silence while the rest is on its way");
        assert!(queue.speaking(), "still speaking: more is coming");
        assert!(queue.append(id, &[0.25; 50], true));
        out.clear();
        src.fill(&mut out);
        assert_eq!(out[..50], [0.25; 50], "the rest plays where it arrives");
        assert_eq!(*events.lock().unwrap(), [SpeechEvent::Started(id), SpeechEvent::Ended(id)]);
        assert!(!queue.append(id, &[0.1; 10], true), "a finished utterance takes no more");
        assert!(!queue.append(99, &[0.1; 10], false), "nor does one never queued");
    }
}
