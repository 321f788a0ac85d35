//! Apache's ContainerManager settings: how often empty containers and expired TTL nodes
//! are looked for (`znode.container.checkIntervalMs`), how many may be deleted per minute
//! (`znode.container.maxPerMinute`), and after how long a container that never had a child
//! goes too (`znode.container.maxNeverUsedIntervalMs`).

use ringkeeper_engine::tree::DataTree;

/// Apache's defaults: one minute, 10000 deletions a minute, never-used containers kept.
pub const DEFAULT_CHECK_INTERVAL_MS: i64 = 60_000;
pub const DEFAULT_MAX_PER_MINUTE: u32 = 10_000;
pub const DEFAULT_MAX_NEVER_USED_INTERVAL_MS: i64 = 0;

const MINUTE_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerReaping {
    pub check_interval_ms: i64,
    pub max_per_minute: u32,
    /// 0 keeps containers that never had a child, as Apache does by default.
    pub max_never_used_interval_ms: i64,
}

impl Default for ContainerReaping {
    fn default() -> Self {
        ContainerReaping {
            check_interval_ms: DEFAULT_CHECK_INTERVAL_MS,
            max_per_minute: DEFAULT_MAX_PER_MINUTE,
            max_never_used_interval_ms: DEFAULT_MAX_NEVER_USED_INTERVAL_MS,
        }
    }
}

impl ContainerReaping {
    /// Deletions one check may make: its interval's share of `maxPerMinute`, and at least
    /// one so that reaping always progresses.
    pub fn deletes_per_check_max(&self) -> usize {
        let share =
            i64::from(self.max_per_minute).saturating_mul(self.check_interval_ms) / MINUTE_MS;
        usize::try_from(share.max(1)).unwrap_or(usize::MAX)
    }

    /// The nodes this check deletes: the first candidates up to the per-check share;
    /// the rest wait for a later check.
    pub fn candidates(&self, tree: &DataTree, now_ms: i64) -> Vec<String> {
        let mut paths = tree.reap_candidates_with(now_ms, self.max_never_used_interval_ms);
        paths.truncate(self.deletes_per_check_max());
        paths
    }

    /// Milliseconds until the next check after one that deleted `deleted` nodes. Apache
    /// waits `60000 / maxPerMinute` ms after each deletion, so a check may outlast its
    /// interval; here the next check is put off instead, which keeps the same rate.
    pub fn pause_after_ms(&self, deleted: usize) -> i64 {
        let per_delete_ms = MINUTE_MS / i64::from(self.max_per_minute.max(1));
        let paced = i64::try_from(deleted)
            .unwrap_or(i64::MAX)
            .saturating_mul(per_delete_ms);
        self.check_interval_ms.max(paced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_minute_cap_is_shared_out_over_checks() {
        let every_second = ContainerReaping {
            check_interval_ms: 1000,
            max_per_minute: 120,
            ..Default::default()
        };
        assert_eq!(every_second.deletes_per_check_max(), 2);
        let slow = ContainerReaping {
            check_interval_ms: 1000,
            max_per_minute: 1,
            ..Default::default()
        };
        assert_eq!(slow.deletes_per_check_max(), 1, "always at least one");
        assert_eq!(ContainerReaping::default().deletes_per_check_max(), 10_000);
    }

    #[test]
    fn deletions_never_outrun_the_per_minute_rate() {
        let one_a_second = ContainerReaping {
            check_interval_ms: 100,
            max_per_minute: 60,
            ..Default::default()
        };
        assert_eq!(one_a_second.deletes_per_check_max(), 1);
        assert_eq!(one_a_second.pause_after_ms(1), 1000);
        assert_eq!(
            one_a_second.pause_after_ms(0),
            100,
            "nothing deleted: the interval"
        );
        let fast = ContainerReaping::default();
        assert_eq!(fast.pause_after_ms(3), 60_000);
    }
}
