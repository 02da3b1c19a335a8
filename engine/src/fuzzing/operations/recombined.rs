//! Appends that reuse the ids of earlier appends in a new combination — the events of
//! two appends of one stream sent as one, or a piece of one append — which the store must
//! refuse as a conflict, never take for a retry (a retry repeats exactly one append).

use super::{Input, Run};
use crate::error::Error;
use crate::fuzzing::checks::same_error;
use crate::fuzzing::model::STREAMS;
use crate::options::Durability;
use crate::position::{ExpectedRevision, Position};
use crate::stream::NewEvent;

impl Run {
    /// Op 5: a plain retry when the parameter's top bit is clear; otherwise two earlier
    /// attempts of one stream merged (bit 6 clear) or the first or last events of one
    /// attempt (bit 6 set), sent expecting `Any`, or with the attempt's own expectation
    /// (bit 5).
    pub(super) fn retry_or_recombine(&mut self, input: &mut Input<'_>) {
        let parameter = input.byte();
        if parameter & 0x80 == 0 {
            let mut again = Input(&[parameter]);
            return self.retry(&mut again);
        }
        if self.attempts.is_empty() {
            return;
        }
        let back = usize::from(parameter & 0x1f);
        let n = self.attempts.len() - 1 - back % self.attempts.len().min(8);
        let first = self.attempts[n].clone();
        if !first.with_ids || self.model.applied(n).is_none() {
            return;
        }
        let events: Vec<NewEvent> = if parameter & 0x40 == 0 {
            let Some(second) = (n + 1..self.attempts.len()).find(|&m| {
                let other = &self.attempts[m];
                other.stream == first.stream && other.with_ids && self.model.applied(m).is_some()
            }) else {
                return;
            };
            let mut events = first.events.clone();
            events.extend(self.attempts[second].events.iter().cloned());
            events
        } else if first.events.len() > 1 {
            let keep = first.events.len() - 1;
            match input.byte() & 1 {
                0 => first.events[..keep].to_vec(),
                _ => first.events[1..].to_vec(),
            }
        } else {
            return;
        };
        let own_expectation = parameter & 0x20 != 0;
        let expected = if own_expectation {
            first.expected
        } else {
            ExpectedRevision::Any
        };
        let prediction = self.model.predict_recombined(first.stream);
        let result =
            self.store()
                .append(STREAMS[first.stream], expected, events, Durability::Written);
        match result {
            Err(actual) if same_error(&actual, &prediction) => {}
            // With its own exact expectation, a piece whose stream moved on may be
            // refused by that expectation first (after a truncation past it, say).
            Err(Error::WrongExpectedRevision { .. })
                if own_expectation && expected != ExpectedRevision::Any => {}
            other => panic!("recombined ids of append {n}: {other:?} instead of {prediction}"),
        }
        assert_eq!(
            self.store().log_next_position(),
            Position(self.model.next_position()),
            "a refused append wrote nothing"
        );
    }
}
