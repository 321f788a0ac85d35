//! Read scaling with observers (issue 14, item 2): the same read-only load (getData, 4 in
//! flight per connection) on a ringkeeper ensemble of the suite's voters plus 0, 1 and 2
//! observers, connection *i* on member *i* mod N, so that the reads are spread over every
//! member. Observers are how a ZooKeeper deployment grows its reads beyond what the voters
//! serve without slowing its writes; on one machine the members share its cores, so this
//! shows the cost of an observer in CPU and what spreading costs or gains, not the gain of
//! adding a machine (docs/benchmarks.md says what the numbers can show).

use super::ensemble::{Ensemble, Shape};
use super::scenarios::{mixes, spread_point, ThroughputRow};
use super::server::ServerKind;
use super::SuiteSettings;
use std::path::Path;

/// The observer counts measured, each on a fresh ensemble.
pub const OBSERVER_COUNTS: [usize; 3] = [0, 1, 2];

/// The row's target name: the implementation and the ensemble's shape.
pub fn target(kind: &str, shape: Shape) -> String {
    format!("{kind} {}+{}obs", shape.voters, shape.observers)
}

/// Runs the read load for every client count on `kind` with each observer count; a shape
/// whose ensemble does not start is reported in the returned failures and skipped.
pub async fn run(
    s: &SuiteSettings,
    kind: &ServerKind,
    work_dir: &Path,
    args: &[String],
) -> (Vec<ThroughputRow>, Vec<String>) {
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    let (mix_name, mix) = mixes()
        .into_iter()
        .find(|(name, _)| *name == "1:0")
        .expect("the read-only mix exists");
    for (i, &observers) in OBSERVER_COUNTS.iter().enumerate() {
        let shape = Shape {
            voters: s.ensemble_size,
            observers,
        };
        let name = target(kind.name(), shape);
        let dir = work_dir.join(format!("{}-read-scaling-{observers}", kind.name()));
        eprintln!("suite: starting {name}");
        let salt = 300 + 10 * i as u32;
        let ens = match Ensemble::start_shaped(kind, &dir, shape, salt, s.election_timeout, args) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("read scaling on {name}: {e}"));
                continue;
            }
        };
        for &clients in &s.clients {
            eprintln!("suite: read scaling {mix_name} x{clients} on {name}");
            match spread_point(s, &ens, (mix_name, &mix), clients, &name).await {
                Ok(r) => rows.extend(r),
                Err(e) => failures.push(format!("read scaling x{clients} on {name}: {e}")),
            }
        }
        // Dropping the ensemble stops its members before the next shape starts.
        drop(ens);
    }
    (rows, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_shape() {
        let shape = Shape {
            voters: 3,
            observers: 2,
        };
        assert_eq!(target("ringkeeper", shape), "ringkeeper 3+2obs");
    }
}
