//! Collectives between worker threads: the shared-memory stand-in for NCCL.
//!
//! One primitive, [`Group::exchange`] (every rank hands one message to every
//! rank), gives all-to-all (Ulysses), all-gather, all-reduce (tensor
//! parallelism) and the ring shift (ring attention). Reductions add in rank
//! order, so every rank gets bit-identical sums and replicas never drift apart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A barrier that spins briefly, then yields. Collectives come hundreds of
/// times per image, microseconds apart; `std::sync::Barrier` puts waiters to
/// sleep on a futex, and the wake-up alone costs more than the work between
/// two collectives. Yielding keeps oversubscribed runs (more workers than
/// cores, as in the tests) moving.
#[derive(Debug)]
struct SpinBarrier {
    size: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.size {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if spins < 4_000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// A process group: `size` ranks that meet at the same collectives in the same order.
#[derive(Debug)]
pub struct Group {
    size: usize,
    barrier: SpinBarrier,
    /// Two sets of mailboxes, used alternately: `mailbox[k % 2][src][dst]` is
    /// the message of exchange `k` from `src` to `dst`. With two, one barrier
    /// per exchange suffices: anyone still reading exchange `k` has not yet
    /// reached exchange `k + 1`'s barrier, so nobody can be writing `k + 2`.
    mailbox: [Vec<Mutex<Vec<Vec<f32>>>>; 2],
    /// Per rank: how many exchanges it has made (only that rank touches it).
    calls: Vec<AtomicUsize>,
}

impl Group {
    pub fn new(size: usize) -> Arc<Self> {
        let boxes = || (0..size).map(|_| Mutex::new(Vec::new())).collect();
        Arc::new(Group {
            size,
            barrier: SpinBarrier {
                size,
                arrived: AtomicUsize::new(0),
                generation: AtomicUsize::new(0),
            },
            mailbox: [boxes(), boxes()],
            calls: (0..size).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// All-to-all: `outgoing[dst]` goes to rank `dst`; returns `incoming[src]`.
    pub fn exchange(&self, rank: usize, outgoing: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
        assert_eq!(outgoing.len(), self.size, "one message per rank");
        if self.size == 1 {
            return outgoing;
        }
        let set = &self.mailbox[self.calls[rank].fetch_add(1, Ordering::Relaxed) % 2];
        // A poisoned lock means another worker panicked; its data is still
        // plain floats, so carry on rather than cascade the panic.
        *set[rank].lock().unwrap_or_else(PoisonError::into_inner) = outgoing;
        self.barrier.wait();
        set.iter()
            .map(|slot| {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                std::mem::take(&mut slot[rank])
            })
            .collect()
    }

    /// Every rank's `data`, in rank order.
    pub fn all_gather(&self, rank: usize, data: &[f32]) -> Vec<Vec<f32>> {
        if self.size == 1 {
            return vec![data.to_vec()];
        }
        self.exchange(rank, vec![data.to_vec(); self.size])
    }

    /// In-place sum over ranks, added in rank order (deterministic).
    pub fn all_reduce_sum(&self, rank: usize, data: &mut [f32]) {
        if self.size == 1 {
            return;
        }
        let parts = self.all_gather(rank, data);
        data.copy_from_slice(&parts[0]);
        for part in &parts[1..] {
            for (d, p) in data.iter_mut().zip(part) {
                *d += p;
            }
        }
    }

    /// Sum of `f64` statistics over ranks, exactly (sent as raw bits).
    pub fn all_reduce_f64(&self, rank: usize, values: &[f64]) -> Vec<f64> {
        if self.size == 1 {
            return values.to_vec();
        }
        let encoded: Vec<f32> = values
            .iter()
            .flat_map(|v| {
                let bits = v.to_bits();
                [
                    f32::from_bits((bits >> 32) as u32),
                    f32::from_bits(bits as u32),
                ]
            })
            .collect();
        let parts = self.all_gather(rank, &encoded);
        let mut sums = vec![0.0f64; values.len()];
        for part in parts {
            for (s, pair) in sums.iter_mut().zip(part.chunks_exact(2)) {
                let bits = (u64::from(pair[0].to_bits()) << 32) | u64::from(pair[1].to_bits());
                *s += f64::from_bits(bits);
            }
        }
        sums
    }

    /// Ring step: send `data` to rank+1, receive from rank-1.
    pub fn ring_shift(&self, rank: usize, data: Vec<f32>) -> Vec<f32> {
        if self.size == 1 {
            return data;
        }
        let mut out = vec![Vec::new(); self.size];
        out[(rank + 1) % self.size] = data;
        let mut incoming = self.exchange(rank, out);
        std::mem::take(&mut incoming[(rank + self.size - 1) % self.size])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_ranks<T: Send>(n: usize, f: impl Fn(usize, &Group) -> T + Sync) -> Vec<T> {
        let group = Group::new(n);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|r| {
                    let (g, f) = (&group, &f);
                    s.spawn(move || f(r, g))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("rank panicked"))
                .collect()
        })
    }

    #[test]
    fn all_to_all_round_trip_restores_data() {
        let out = run_ranks(3, |r, g| {
            let mine: Vec<Vec<f32>> = (0..3).map(|d| vec![(r * 10 + d) as f32; 2]).collect();
            let got = g.exchange(r, mine.clone());
            for (src, msg) in got.iter().enumerate() {
                assert_eq!(msg, &vec![(src * 10 + r) as f32; 2]);
            }
            // Sending everything back where it came from restores the original.
            let back = g.exchange(r, got);
            assert_eq!(back, mine);
            r
        });
        assert_eq!(out, vec![0, 1, 2]);
    }

    #[test]
    fn reductions_and_ring_shift() {
        let out = run_ranks(4, |r, g| {
            let mut v = vec![r as f32, 1.0];
            g.all_reduce_sum(r, &mut v);
            let s = g.all_reduce_f64(r, &[r as f64 * 0.1]);
            let shifted = g.ring_shift(r, vec![r as f32]);
            (v, s[0], shifted[0])
        });
        for (r, (v, s, shifted)) in out.into_iter().enumerate() {
            assert_eq!(v, vec![6.0, 4.0]);
            assert!((s - 0.6).abs() < 1e-12);
            assert_eq!(shifted, ((r + 3) % 4) as f32);
        }
    }
}
