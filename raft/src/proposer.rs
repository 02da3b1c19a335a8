//! [`Proposer`]: appends proposed to the leader in batches, one raft entry each.
//!
//! openraft 0.9 awaits each entry's log flush inside its core loop before it takes the
//! next client write, so one entry per append costs the leader one fdatasync per
//! append, one after the other (measured: 1.000 per append at 64 clients). The proposer
//! puts every append that arrived while earlier batches were on their way into one
//! [`Proposal::Batch`]: one flush and one replication round for all of them. Each
//! append is still applied alone, with its own expectation and outcome.

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::{AppendOutcome, AppendRequest, Proposal, TypeConfig, REPLICATED_EVENTS_MAX};

/// Most appends in one batch.
pub const BATCH_APPENDS_MAX: usize = 1024;
/// Batches proposed and not yet answered, at most: the leader writes the next while the
/// previous one replicates.
const BATCHES_IN_FLIGHT: usize = 4;

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
    /// A proposer writing through `raft` (which must lead for appends to succeed).
    pub fn new(raft: Raft<TypeConfig>) -> Proposer {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, pending));
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

async fn run(raft: Raft<TypeConfig>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let in_flight = std::sync::Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
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
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, batch).await;
            drop(permit);
        });
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
