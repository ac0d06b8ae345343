//! Bounded queues between threads that drop the oldest item rather than block, and count what they drop.
//!
//! Input: items from one thread. Output: the same items on another, the newest kept. Thread: any two.
//!
//! A live stage must never wait on a slower one downstream: a newer item is always worth more than an
//! older one (the newest audio, the newest pose). So a full queue gives up its oldest item to make room,
//! and the drop is counted where the telemetry can see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError, bounded};

/// The sending side of a drop-oldest queue.
pub struct DropOldestSender<T> {
    tx: Sender<T>,
    // A receiver of the same channel, used only to pop the oldest item when the queue is full.
    evict: Receiver<T>,
    dropped: Arc<AtomicU64>,
}

/// The receiving side of a drop-oldest queue.
pub struct DropOldestReceiver<T> {
    rx: Receiver<T>,
    dropped: Arc<AtomicU64>,
}

/// A queue holding at most `capacity` items (at least 1).
pub fn drop_oldest<T>(capacity: usize) -> (DropOldestSender<T>, DropOldestReceiver<T>) {
    let (tx, rx) = bounded(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (DropOldestSender { tx, evict: rx.clone(), dropped: Arc::clone(&dropped) }, DropOldestReceiver { rx, dropped })
}

/// Every sender is gone and the queue is empty: the upstream stage has finished.
#[derive(Debug, PartialEq, Eq)]
pub struct Disconnected;

impl<T> DropOldestSender<T> {
    /// Queues `item`, dropping the oldest queued item when the queue is full. Never blocks. The sender
    /// holds a receiver of its own channel (to evict with), so a send always lands; stages stop through
    /// the pipeline's stop flag, not through a closed queue.
    pub fn send(&self, item: T) {
        let mut item = item;
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    if self.evict.try_recv().is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    item = back;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<T> DropOldestReceiver<T> {
    /// Waits up to `timeout` for the next item. `Ok(None)` on timeout.
    ///
    /// # Errors
    /// [`Disconnected`] when every sender is gone and the queue is empty.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<T>, Disconnected> {
        match self.rx.recv_timeout(timeout) {
            Ok(item) => Ok(Some(item)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Disconnected),
        }
    }

    /// The next item if one is queued. `Ok(None)` when the queue is empty.
    ///
    /// # Errors
    /// [`Disconnected`] when every sender is gone and the queue is empty.
    pub fn try_recv(&self) -> Result<Option<T>, Disconnected> {
        match self.rx.try_recv() {
            Ok(item) => Ok(Some(item)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Disconnected),
        }
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_the_oldest_and_counts() {
        let (tx, rx) = drop_oldest::<u32>(3);
        for i in 0..10 {
            tx.send(i);
        }
        assert_eq!(tx.dropped(), 7);
        assert_eq!(rx.dropped(), 7);
        let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv().unwrap()).collect();
        assert_eq!(got, [7, 8, 9]);
    }

    #[test]
    fn a_slow_receiver_never_blocks_the_sender_and_the_queue_never_grows() {
        let (tx, rx) = drop_oldest::<u64>(4);
        let producer = std::thread::spawn(move || {
            for i in 0..100_000 {
                tx.send(i);
            }
            tx.dropped()
        });
        let mut last = None;
        let mut received = 0u64;
        loop {
            assert!(rx.len() <= 4);
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(v)) => {
                    // Order is kept: what survives comes out oldest first.
                    assert!(last.is_none_or(|l| v > l));
                    last = Some(v);
                    received += 1;
                    std::thread::sleep(Duration::from_micros(20));
                }
                Ok(None) => continue,
                Err(Disconnected) => break,
            }
        }
        let dropped = producer.join().unwrap();
        assert_eq!(received + dropped, 100_000);
        assert_eq!(last, Some(99_999), "the newest item always gets through");
    }
}
