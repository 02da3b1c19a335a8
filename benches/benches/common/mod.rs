//! Shared by the bench binaries (each includes it with `mod common;`): criterion set up
//! the same way everywhere, from the run's settings and then the command line.

use annal_benches::Settings;
use criterion::Criterion;

/// Criterion configured for heavy iterations (`Settings::criterion`), then from the
/// command line (filters, `--quick`, baselines).
pub fn criterion(settings: &Settings) -> Criterion {
    let cfg = settings.criterion();
    Criterion::default()
        .sample_size(cfg.sample_size)
        .warm_up_time(cfg.warm_up)
        .measurement_time(cfg.measurement)
        .configure_from_args()
}
