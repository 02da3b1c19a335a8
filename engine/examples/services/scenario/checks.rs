//! What the run proves, read back from the log: every order reached exactly one final
//! state, every order got exactly one credit answer (no reaction applied twice) that
//! agrees with its outcome, no customer went over the limit, and the view equals a
//! recomputation from the log. And the auditor's "as of" reads.

use std::collections::HashMap;
use std::time::Duration;

use annal::{Direction, EventStore, Position, Revision};

use super::view::{self, CustomerOrders};
use super::{event_id, two_numbers, Config, Error, CREDIT_LIMIT};

/// Events read per page of a category.
const PAGE_EVENTS: usize = 8_192;

/// What the checks counted.
pub(crate) struct Checked {
    pub(crate) approved: u64,
    pub(crate) rejected: u64,
    /// Each order's latency from `OrderCreated` to its outcome, in nanoseconds, sorted.
    latencies_ns: Vec<u64>,
}

impl Checked {
    /// The latency at quantile `q` (0 to 1).
    pub(crate) fn latency_percentile(&self, q: f64) -> Duration {
        if self.latencies_ns.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.latencies_ns.len() - 1) as f64 * q).round() as usize;
        Duration::from_nanos(self.latencies_ns[at])
    }
}

/// Runs every check; the first failure is the error.
pub(crate) fn check(
    store: &EventStore,
    config: &Config,
    view: &HashMap<u64, CustomerOrders>,
) -> Result<Checked, Error> {
    let mut checked = Checked {
        approved: 0,
        rejected: 0,
        latencies_ns: Vec::with_capacity(config.orders as usize),
    };
    let mut approved = vec![false; config.orders as usize];
    for n in 0..config.orders {
        let stream = format!("order-{n}");
        let events = store.read_stream(&stream, Revision::ZERO, Direction::Forwards, 3)?;
        let types: Vec<&[u8]> = events.iter().map(|e| &e.event_type[..]).collect();
        let outcome = match types.as_slice() {
            [b"OrderCreated", b"OrderApproved"] => true,
            [b"OrderCreated", b"OrderRejected"] => false,
            _ => {
                let types: Vec<_> = types.iter().map(|t| String::from_utf8_lossy(t)).collect();
                return Err(format!("{stream} holds {types:?}, not one outcome").into());
            }
        };
        let kind = if outcome { 4 } else { 5 };
        if events[0].id != Some(event_id(1, n)) || events[1].id != Some(event_id(kind, n)) {
            return Err(format!("{stream}'s events do not carry their ids").into());
        }
        approved[n as usize] = outcome;
        if outcome {
            checked.approved += 1;
        } else {
            checked.rejected += 1;
        }
        let latency = events[1]
            .timestamp_ns
            .saturating_sub(events[0].timestamp_ns);
        checked.latencies_ns.push(latency);
    }
    checked.latencies_ns.sort_unstable();
    let mut answers = vec![0u32; config.orders as usize];
    let mut reserved: HashMap<Vec<u8>, u64> = HashMap::new();
    for_each_in_category(store, "customer", |event| {
        let (n, amount) = two_numbers(&event.data)?;
        let Some(count) = answers.get_mut(n as usize) else {
            return Err(format!("an answer about order {n}, which was never created").into());
        };
        *count += 1;
        let reserves = &event.event_type[..] == b"CreditReserved";
        if reserves != approved[n as usize] {
            return Err(format!("order-{n}'s outcome disagrees with its credit answer").into());
        }
        if reserves {
            let total = reserved.entry(event.stream.to_vec()).or_default();
            *total += amount;
            if *total > CREDIT_LIMIT {
                let stream = String::from_utf8_lossy(&event.stream);
                return Err(format!("{stream} reserved {total}, over its limit").into());
            }
        }
        Ok(())
    })?;
    if let Some(n) = answers.iter().position(|&count| count != 1) {
        let count = answers[n];
        return Err(format!("order-{n} got {count} credit answers, not exactly one").into());
    }
    let mut recomputed = HashMap::new();
    for_each_in_category(store, "order", |event| {
        view::apply(&mut recomputed, event).map(drop)
    })?;
    if &recomputed != view {
        return Err("the view differs from its recomputation from the log".into());
    }
    Ok(checked)
}

/// Calls `visit` with every event of `category`, in position order.
fn for_each_in_category(
    store: &EventStore,
    category: &str,
    mut visit: impl FnMut(&annal::RecordedEvent) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut from = Position(0);
    loop {
        let page = store.read_category(category, from, Direction::Forwards, PAGE_EVENTS)?;
        for event in &page {
            visit(event)?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE_EVENTS => from = last.position.after(1),
            _ => return Ok(()),
        }
    }
}

/// The auditor: order `n` as of the position of its outcome (before it), as of the time
/// it was created, and now.
pub(crate) fn audit(store: &EventStore, n: u64) -> Result<Vec<String>, Error> {
    let stream = format!("order-{n}");
    let now = store.read_stream(&stream, Revision::ZERO, Direction::Forwards, 10)?;
    let [created, outcome] = now.as_slice() else {
        return Err(format!("{stream} does not hold two events").into());
    };
    let before = store.read_stream_as_of(
        &stream,
        outcome.position,
        Revision::ZERO,
        Direction::Forwards,
        10,
    )?;
    if before.len() != 1 || before[0].event_type != "OrderCreated" {
        return Err(format!("{stream} as of its outcome's position is not just created").into());
    }
    let at_creation = store.read_stream_at_time(&stream, created.timestamp_ns, 10)?;
    let names = |events: &[annal::RecordedEvent]| {
        events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.event_type).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(vec![
        format!(
            "{stream} as of position {} (its outcome's): {} — pending",
            outcome.position.0,
            names(&before)
        ),
        format!(
            "{stream} as of {} ns (its creation): {}",
            created.timestamp_ns,
            names(&at_creation)
        ),
        format!("{stream} now: {}", names(&now)),
    ])
}
