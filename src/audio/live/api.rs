//! Speech handed over by a program (`--input api`): utterances queued by the control API, played one
//! after another in real time, with silence between them so that the avatar idles.
//!
//! Input: [`Utterance`]s (16 kHz mono) pushed onto a [`SpeechQueue`] by the control API's thread.
//! Output: 10 ms blocks of 16 kHz mono, released on the wall clock, and a [`SpeechEvent`] as each
//! utterance starts and ends. Thread: the live loop's audio thread reads it; the queue's lock is held
//! only to take or put an utterance (never by an audio callback).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{BlockStamp, LiveAudioError, LiveSource, SourceRead};
use crate::vocab::MotionParams;
use crate::vocab::clock::{HOP_SAMPLES, HOP_SECS, SAMPLE_RATE_HZ, secs_from_samples};

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
    /// Its mouth, one [`MotionParams`] per hop from its first sample, where the text-to-speech engine
    /// timed its phones (`POST /say`): the motion thread shows it in place of what it hears.
    pub mouth: Option<Arc<[MotionParams]>>,
}

/// A mouth track placed in the source's stream.
#[derive(Debug, Clone)]
pub struct MouthSpan {
    /// The utterance's id.
    pub id: u64,
    /// Where the utterance began, seconds from the source's first sample (as `audio_t_secs` counts).
    pub at_secs: f64,
    /// Where the track stops: its end, or where its utterance was stopped.
    pub until_secs: f64,
    /// The mouth at the end of each hop from `at_secs`.
    pub track: Arc<[MotionParams]>,
}

impl MouthSpan {
    /// The mouth at `t_secs` in the stream (the hop ending there), if this track covers it.
    pub fn at(&self, t_secs: f64) -> Option<&MotionParams> {
        if t_secs <= self.at_secs || t_secs > self.until_secs {
            return None;
        }
        let hop = ((t_secs - self.at_secs) / HOP_SECS).round() as usize;
        self.track.get(hop.checked_sub(1)?)
    }
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

/// What the source tells as it plays: the utterance's id, and where in the stream it happened (seconds
/// from the source's first sample, as `audio_t_secs` counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpeechEvent {
    /// The utterance's first sample went out.
    Started(u64, f64),
    /// Its last sample went out.
    Ended(u64, f64),
    /// It was stopped before its end (an interruption).
    Stopped(u64, f64),
}

impl SpeechEvent {
    /// The utterance's id.
    pub fn id(&self) -> u64 {
        match *self {
            Self::Started(id, _) | Self::Ended(id, _) | Self::Stopped(id, _) => id,
        }
    }
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
    /// The mouth tracks of the last utterances that had one (at most 16).
    mouths: VecDeque<MouthSpan>,
}

impl Queue {
    /// Places utterance `id`'s mouth `track` at `at_secs` in the stream, forgetting the oldest beyond 16.
    fn place_mouth(&mut self, id: u64, at_secs: f64, track: Arc<[MotionParams]>) {
        if self.mouths.len() == 16 {
            self.mouths.pop_front();
        }
        let until_secs = at_secs + track.len() as f64 * HOP_SECS;
        self.mouths.push_back(MouthSpan { id, at_secs, until_secs, track });
    }
}

/// The utterances waiting and the one playing, shared by the API and the audio thread.
#[derive(Default)]
pub struct SpeechQueue {
    queue: Mutex<Queue>,
    next_id: AtomicU64,
    total: AtomicU64,
    /// Bumped whenever the mouth tracks change, so that a reader copies them only then.
    mouths_generation: AtomicU64,
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

    /// Places a mouth track at `at_secs` in the stream of a source other than the queue's own (a file
    /// whose phones were timed: `facecast say`).
    pub fn place_mouth(&self, at_secs: f64, track: Arc<[MotionParams]>) {
        self.lock().place_mouth(0, at_secs, track);
        self.mouths_generation.fetch_add(1, Ordering::Release);
    }

    /// Copies the mouth tracks into `out` when they changed since `seen` (a generation the caller keeps,
    /// 0 at first); true when it did. Without a change it takes no lock and allocates nothing.
    pub fn mouth_spans(&self, seen: &mut u64, out: &mut Vec<MouthSpan>) -> bool {
        let now = self.mouths_generation.load(Ordering::Acquire);
        if now == *seen {
            return false;
        }
        let q = self.lock();
        out.clear();
        out.extend(q.mouths.iter().cloned());
        *seen = self.mouths_generation.load(Ordering::Acquire);
        true
    }
}

/// The source the live loop reads: the queue's speech, or silence, on the wall clock.
pub struct ApiSource {
    queue: Arc<SpeechQueue>,
    on_event: Box<dyn FnMut(SpeechEvent) + Send>,
    start: Option<Instant>,
    released: u64,
}

impl ApiSource {
    /// A source playing `queue`, telling `on_event` as each utterance starts and ends.
    pub fn new(queue: Arc<SpeechQueue>, on_event: Box<dyn FnMut(SpeechEvent) + Send>) -> Self {
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
                    let cut = secs_from_samples(self.released as usize);
                    events.push(SpeechEvent::Stopped(u.id, cut));
                    if let Some(span) = q.mouths.iter_mut().find(|m| m.id == u.id) {
                        span.until_secs = span.until_secs.min(cut);
                        self.queue.mouths_generation.fetch_add(1, Ordering::Release);
                    }
                }
            }
            let mut left = HOP_SAMPLES;
            while left > 0 {
                if q.playing.is_none() {
                    match q.waiting.pop_front() {
                        Some(u) => {
                            let at = self.released as usize + (out.len() - block_start);
                            events.push(SpeechEvent::Started(u.id, secs_from_samples(at)));
                            if q.starts.len() == 16 {
                                q.starts.pop_front();
                            }
                            q.starts
                                .push_back(UtteranceStart { at_secs: secs_from_samples(at), requested: u.requested });
                            if let Some(track) = &u.mouth {
                                q.place_mouth(u.id, secs_from_samples(at), Arc::clone(track));
                                self.queue.mouths_generation.fetch_add(1, Ordering::Release);
                            }
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
                    let at = self.released as usize + (out.len() - block_start);
                    events.push(SpeechEvent::Ended(u.id, secs_from_samples(at)));
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
        queue.push(
            Utterance { id: a, samples: vec![0.5; 200], requested: Instant::now(), open: false, mouth: None },
            false,
        );
        queue.push(
            Utterance { id: b, samples: vec![0.25; 100], requested: Instant::now(), open: false, mouth: None },
            false,
        );
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
        let h = secs_from_samples(HOP_SAMPLES);
        let (at_b, end_b) = (secs_from_samples(HOP_SAMPLES + 200), secs_from_samples(HOP_SAMPLES + 300));
        assert_eq!(
            *events.lock().unwrap(),
            [
                SpeechEvent::Started(a, h),
                SpeechEvent::Ended(a, at_b),
                SpeechEvent::Started(b, at_b),
                SpeechEvent::Ended(b, end_b)
            ]
        );
        let c = queue.next_id();
        queue.push(
            Utterance { id: c, samples: vec![0.1; 10_000], requested: Instant::now(), open: false, mouth: None },
            false,
        );
        src.fill(&mut out);
        assert!(queue.speaking());
        let d = queue.next_id();
        queue.push(
            Utterance { id: d, samples: vec![0.2; 50], requested: Instant::now(), open: false, mouth: None },
            true,
        );
        out.clear();
        src.fill(&mut out);
        assert_eq!(out[..50], [0.2; 50], "the interruption plays at once");
        let kinds: Vec<(&str, u64)> = events.lock().unwrap()[4..]
            .iter()
            .map(|e| match e {
                SpeechEvent::Started(..) => ("started", e.id()),
                SpeechEvent::Ended(..) => ("ended", e.id()),
                SpeechEvent::Stopped(..) => ("stopped", e.id()),
            })
            .collect();
        assert_eq!(kinds, [("started", c), ("stopped", c), ("started", d), ("ended", d)]);
    }

    #[test]
    fn a_streamed_utterance_waits_in_silence_for_more_and_ends_when_closed() {
        let queue = Arc::new(SpeechQueue::default());
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let mut src = ApiSource::new(Arc::clone(&queue), Box::new(move |e| seen.lock().unwrap().push(e)));
        let id = queue.next_id();
        queue
            .push(Utterance { id, samples: vec![0.5; 100], requested: Instant::now(), open: true, mouth: None }, false);
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
        let ids: Vec<u64> = events.lock().unwrap().iter().map(SpeechEvent::id).collect();
        assert_eq!(ids, [id, id]);
        assert!(matches!(events.lock().unwrap()[..], [SpeechEvent::Started(..), SpeechEvent::Ended(..)]));
        assert!(!queue.append(id, &[0.1; 10], true), "a finished utterance takes no more");
        assert!(!queue.append(99, &[0.1; 10], false), "nor does one never queued");
    }

    #[test]
    fn a_mouth_track_is_placed_where_its_utterance_starts_and_cut_where_it_is_stopped() {
        let queue = Arc::new(SpeechQueue::default());
        let mut src = ApiSource::new(Arc::clone(&queue), Box::new(|_| {}));
        let (mut spans, mut seen) = (Vec::new(), 0);
        assert!(!queue.mouth_spans(&mut seen, &mut spans), "nothing to copy yet");
        let track: Arc<[MotionParams]> =
            (1..=10).map(|i| MotionParams { jaw_open: i as f32 / 10.0, ..MotionParams::default() }).collect();
        let id = queue.next_id();
        let u =
            Utterance { id, samples: vec![0.5; 10 * HOP_SAMPLES], requested: Instant::now(), open: false, mouth: None };
        queue.push(Utterance { mouth: Some(Arc::clone(&track)), ..u }, false);
        let mut out = Vec::new();
        src.fill(&mut out);
        assert!(queue.mouth_spans(&mut seen, &mut spans));
        assert!(!queue.mouth_spans(&mut seen, &mut spans), "unchanged: not copied again");
        let span = &spans[0];
        assert_eq!((span.id, span.at_secs, span.until_secs), (id, 0.0, 10.0 * HOP_SECS));
        // The hop ending 3 hops into the utterance shows the track's third value; none before or after.
        assert_eq!(span.at(3.0 * HOP_SECS).map(|p| p.jaw_open), Some(0.3));
        assert!(span.at(0.0).is_none() && span.at(10.5 * HOP_SECS).is_none());
        // Stopped two hops in: the track stops there too.
        src.fill(&mut out);
        queue.stop_all();
        src.fill(&mut out);
        assert!(queue.mouth_spans(&mut seen, &mut spans));
        assert_eq!(spans[0].until_secs, 2.0 * HOP_SECS);
        assert!(spans[0].at(3.0 * HOP_SECS).is_none());
    }
}
