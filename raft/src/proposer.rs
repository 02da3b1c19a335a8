//! [`Proposer`]: appends proposed to the leader in batches, one raft entry each.
//!
//! openraft 0.9 awaits each entry's log flush inside its core loop before it takes the
//! next client write, so one entry per append costs the leader one fdatasync per
//! append, one after the other (measured: 1.000 per append at 64 clients). The proposer
//! puts every append that arrived meanwhile into one [`Proposal::Batch`]: one flush and
//! one replication round for all of them. Each append is still applied alone, with its
//! own expectation and outcome.
//!
//! When the next batch goes: with the leader log's [`LogFlushes`] (what
//! [`crate::ReplicatedStore`] gives it), as soon as the leader's log has flushed the
//! previous batch's entry, so at most one batch waits for the leader's flush and it
//! carries everything that arrived during the previous one; the batches already
//! flushed replicate and commit meanwhile. Without it, when one of at most 4 batches in
//! flight was answered.

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::{
    AppendOutcome, AppendRequest, LogFlushes, Proposal, TypeConfig, REPLICATED_EVENTS_MAX,
};

/// Most appends in one batch.
pub const BATCH_APPENDS_MAX: usize = 1024;
/// Batches proposed and not yet answered, at most, without the leader log's flushes:
/// the leader writes the next while the previous ones replicate.
const BATCHES_IN_FLIGHT_BLIND: usize = 4;
/// Batches proposed and not yet answered, at most, when each waits for the previous
/// one's leader flush (a bound on memory if replication stalls; not what paces them).
const BATCHES_IN_FLIGHT_PACED: usize = 64;

/// Why a proposed append was not answered by the state machine.
pub type ProposeError = RaftError<u64, ClientWriteError<u64, BasicNode>>;

struct Pending {
    request: AppendRequest,
    answer: oneshot::Sender<Result<AppendOutcome, ProposeError>>,
}

/// Proposes appends through one raft node in batches (see the module docs). Cheap to
/// clone; the batching task stops when the last clone is dropped. Must be made inside
/// a tokio runtime.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// A proposer writing through `raft` (which must lead for appends to succeed),
    /// with at most 4 batches in flight.
    pub fn new(raft: Raft<TypeConfig>) -> Proposer {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, None, pending));
        Proposer { queue }
    }

    /// A proposer writing through `raft`, whose log's flushes are `flushes`: each batch
    /// goes once the leader's log flushed the previous one (see the module docs).
    pub fn paced_by(raft: Raft<TypeConfig>, flushes: LogFlushes) -> Proposer {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, Some(flushes), pending));
        Proposer { queue }
    }

    /// Proposes `request` and waits for its outcome, the one every replica applied.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, ProposeError> {
        let (answer, outcome) = oneshot::channel();
        let stopped = || RaftError::Fatal(openraft::error::Fatal::Stopped);
        self.queue
            .send(Pending { request, answer })
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

async fn run(
    raft: Raft<TypeConfig>,
    mut flushes: Option<LogFlushes>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    let window = if flushes.is_some() {
        BATCHES_IN_FLIGHT_PACED
    } else {
        BATCHES_IN_FLIGHT_BLIND
    };
    let in_flight = std::sync::Arc::new(Semaphore::new(window));
    let mut carried: Option<Pending> = None;
    loop {
        let Ok(permit) = std::sync::Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut events = first.request.events.len();
        let mut batch = vec![first];
        while batch.len() < BATCH_APPENDS_MAX {
            let Ok(next) = queue.try_recv() else { break };
            if events + next.request.events.len() > REPLICATED_EVENTS_MAX {
                carried = Some(next);
                break;
            }
            events += next.request.events.len();
            batch.push(next);
        }
        let mark = flushes.as_ref().map(LogFlushes::mark);
        let (answered, mut was_answered) = oneshot::channel::<()>();
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, batch).await;
            drop(permit);
            drop(answered);
        });
        if let (Some(flushes), Some(mark)) = (flushes.as_mut(), mark) {
            // The appends arriving meanwhile wait here for the next batch. A batch that
            // fails (this node does not lead) is answered without a flush.
            tokio::select! {
                () = flushes.flushed_after(mark) => {}
                _ = &mut was_answered => {}
            }
        }
    }
}

/// Proposes `batch` as one entry (a lone append as itself) and answers each caller.
async fn propose(raft: &Raft<TypeConfig>, batch: Vec<Pending>) {
    let (requests, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.request, p.answer)).unzip();
    let proposal = if requests.len() == 1 {
        Proposal::from(requests.into_iter().next().expect("one request"))
    } else {
        Proposal::Batch(requests)
    };
    match raft.client_write(proposal).await {
        Ok(response) => {
            let outcomes = match response.data {
                AppendOutcome::Batch(outcomes) => outcomes,
                single => vec![single],
            };
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                let _ = answer.send(Ok(outcome));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}
