//! A projection (materialized view) on a durable store consumer that resumes after a
//! restart: order totals per customer, kept in a file beside the store. The view is
//! updated first and the consumer's checkpoint committed after, so a crash between the
//! two replays a few events; the view skips them because it remembers each stream's last
//! applied revision (idempotent by revision). After a restart the projection reads only
//! the events appended since its checkpoint.
//!
//! `cargo run -p annal --example projection` (runs in a temporary directory and exits
//! non-zero if the view is wrong).

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use annal::{
    Durability, EventStore, ExpectedRevision, NewEvent, Options, RecordedEvent, Start, StoreFilter,
    StoreSubscriptionOptions,
};

type Error = Box<dyn std::error::Error>;

const PROJECTION: &str = "customer-totals";

/// The view: total ordered per customer, and the last revision applied per order stream.
#[derive(Debug, Default, PartialEq)]
struct View {
    totals: BTreeMap<String, u64>,
    applied: BTreeMap<String, u64>,
}

impl View {
    fn load(path: &Path) -> Result<View, Error> {
        let mut view = View::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(view);
        };
        for line in text.lines() {
            match line.split(' ').collect::<Vec<_>>()[..] {
                ["total", customer, amount] => {
                    view.totals.insert(customer.into(), amount.parse()?);
                }
                ["applied", stream, revision] => {
                    view.applied.insert(stream.into(), revision.parse()?);
                }
                _ => return Err(format!("bad view line {line:?}").into()),
            }
        }
        Ok(view)
    }

    /// Writes the view to a temporary file and renames it over the old one.
    fn save(&self, path: &Path) -> Result<(), Error> {
        let mut text = String::new();
        for (customer, amount) in &self.totals {
            text.push_str(&format!("total {customer} {amount}\n"));
        }
        for (stream, revision) in &self.applied {
            text.push_str(&format!("applied {stream} {revision}\n"));
        }
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, text)?;
        std::fs::rename(temp, path)?;
        Ok(())
    }

    /// Applies an `OrderPlaced` event (data: `<customer> <amount>`) unless already applied.
    fn apply(&mut self, event: &RecordedEvent) -> Result<bool, Error> {
        let stream = String::from_utf8(event.stream.to_vec())?;
        if self
            .applied
            .get(&stream)
            .is_some_and(|&r| r >= event.revision.0)
        {
            return Ok(false);
        }
        let data = std::str::from_utf8(&event.data)?;
        let (customer, amount) = data.split_once(' ').ok_or("bad order data")?;
        *self.totals.entry(customer.into()).or_default() += amount.parse::<u64>()?;
        self.applied.insert(stream, event.revision.0);
        Ok(true)
    }
}

fn place(store: &EventStore, order: u32, customer: &str, amount: u64) -> Result<(), Error> {
    let event = NewEvent::new("OrderPlaced", format!("{customer} {amount}"));
    let stream = format!("order-{order}");
    store.append(
        stream,
        ExpectedRevision::NoStream,
        vec![event],
        Durability::Synced,
    )?;
    Ok(())
}

/// Runs the projection until it has caught up; returns how many events it applied.
fn project(store: &EventStore, view_path: &Path) -> Result<usize, Error> {
    let consumer = match store.consumer(PROJECTION) {
        Ok(consumer) => consumer,
        Err(_) => store.create_consumer(PROJECTION, Start::Beginning)?,
    };
    let mut view = View::load(view_path)?;
    let placed = StoreSubscriptionOptions::default().filter(StoreFilter::event_type("OrderPlaced"));
    let mut subscription = consumer.subscribe_with(placed)?;
    let mut applied = 0;
    for event in subscription.iter_timeout(Duration::from_millis(20)) {
        if view.apply(&event?)? {
            applied += 1;
        }
    }
    // The view first, then the checkpoint: a crash in between only replays events the
    // view already has, and skips.
    view.save(view_path)?;
    consumer.commit(subscription.position())?;
    Ok(applied)
}

/// The whole example in `dir`; an error if the view is wrong.
pub fn run(dir: &Path) -> Result<(), Error> {
    let store_dir = dir.join("store");
    let view_path = dir.join("customer-totals.view");
    let options = Options::default().segment_bytes(1 << 20);

    let store = EventStore::open(&store_dir, options.clone())?;
    place(&store, 1, "cust-1", 30)?;
    place(&store, 2, "cust-2", 12)?;
    place(&store, 3, "cust-1", 5)?;
    let first = project(&store, &view_path)?;
    store.close()?;

    // A restart: the projection resumes at its checkpoint and reads only what is new.
    let store = EventStore::open(&store_dir, options)?;
    place(&store, 4, "cust-2", 8)?;
    let second = project(&store, &view_path)?;
    let third = project(&store, &view_path)?;
    store.close()?;

    let view = View::load(&view_path)?;
    let want: BTreeMap<String, u64> = [("cust-1".into(), 35), ("cust-2".into(), 20)].into();
    if (first, second, third) != (3, 1, 0) || view.totals != want {
        return Err(format!("projection applied {first}, {second}, {third}; view {view:?}").into());
    }
    println!("projection: {:?} after a restart", view.totals);
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    run(dir.path())
}
