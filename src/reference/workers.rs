//! The worker pool: one OS thread per device, each holding its shard of the
//! model, fed the same job and meeting in its process groups.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use anyhow::{Context, anyhow};

use super::comm::Group;
use super::dit::{Dit, Parallel};
use super::model::Weights;
use super::sampler::{Generated, Job, Topology, Worker};

type Reply = (usize, Result<Option<Generated>, String>);

pub struct Pool {
    senders: Vec<Sender<Arc<Job>>>,
    replies: Receiver<Reply>,
    handles: Vec<JoinHandle<()>>,
    /// A worker failed mid-job: the others may wait forever at a barrier, so
    /// they are left to die with the process instead of being joined.
    broken: bool,
}

/// Which group a rank joins, keyed by the coordinates the members share.
#[derive(Hash, PartialEq, Eq)]
enum GroupKey {
    Tp(usize, usize, usize),
    Ulysses(usize, usize, usize),
    Ring(usize, usize, usize),
    Sp(usize, usize),
}

impl Pool {
    pub fn start(topo: Topology, weights: Arc<Weights>) -> anyhow::Result<Pool> {
        let world = Group::new(topo.world());
        let mut groups: HashMap<GroupKey, Arc<Group>> = HashMap::new();
        let mut group = |key: GroupKey, size: usize| {
            groups
                .entry(key)
                .or_insert_with(|| Group::new(size))
                .clone()
        };
        let (reply_tx, replies) = mpsc::channel();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for rank in 0..topo.world() {
            let c = topo.coords(rank);
            let par = Parallel {
                tp: group(GroupKey::Tp(c.cfg, c.ring, c.ulysses), topo.tp),
                tp_rank: c.tp,
                ulysses: group(GroupKey::Ulysses(c.cfg, c.ring, c.tp), topo.ulysses),
                ulysses_rank: c.ulysses,
                ring: group(GroupKey::Ring(c.cfg, c.ulysses, c.tp), topo.ring),
                ring_rank: c.ring,
                sp: group(GroupKey::Sp(c.cfg, c.tp), topo.ulysses * topo.ring),
                sp_rank: topo.sp_rank(c),
            };
            let (tx, rx) = mpsc::channel::<Arc<Job>>();
            let weights = weights.clone();
            let world = world.clone();
            let reply = reply_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("worker-{rank}"))
                .spawn(move || {
                    // Each worker slices its own shard, as each GPU loads its own.
                    let worker = Worker {
                        rank,
                        topo,
                        world,
                        dit: Dit::new(weights, par),
                    };
                    for job in rx {
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            worker.generate(&job)
                        }))
                        .map_err(|_| format!("worker {rank} panicked"));
                        if reply.send((rank, out)).is_err() {
                            break;
                        }
                    }
                })
                .with_context(|| format!("failed to start worker thread {rank}"))?;
            senders.push(tx);
            handles.push(handle);
        }
        Ok(Pool {
            senders,
            replies,
            handles,
            broken: false,
        })
    }

    /// Runs one generation on every worker; rank 0's result.
    pub fn run(&mut self, job: Job) -> anyhow::Result<Generated> {
        let job = Arc::new(job);
        for tx in &self.senders {
            tx.send(job.clone())
                .map_err(|_| anyhow!("a worker thread has exited"))?;
        }
        let mut result = None;
        for _ in 0..self.senders.len() {
            let (rank, reply) = self
                .replies
                .recv()
                .map_err(|_| anyhow!("the worker threads have exited"))?;
            match reply {
                Ok(Some(g)) if rank == 0 => result = Some(g),
                Ok(_) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(anyhow!(e));
                }
            }
        }
        result.ok_or_else(|| anyhow!("rank 0 returned no image"))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the channels ends the workers' loops.
        self.senders.clear();
        if self.broken {
            return;
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
