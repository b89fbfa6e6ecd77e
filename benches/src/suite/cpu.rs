//! How busy the machine's CPUs were during a run, and how much of their time
//! the hypervisor gave to other guests (steal). On a shared virtual machine
//! steal swings from nothing to a third of the time, and latency figures
//! swing with it: the suite reports it beside every run.

use serde::Serialize;

/// The cumulative CPU times of `/proc/stat`'s first line, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// Ticks spent running something (user, nice, system, irq, softirq).
    pub busy: u64,
    /// Ticks idle or waiting for I/O.
    pub idle: u64,
    /// Ticks the hypervisor ran something else while this guest wanted to run.
    pub steal: u64,
}

/// What the CPUs did between two [`CpuTimes`] readings, in percent of all
/// their time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuShare {
    /// Running something on this machine.
    pub busy_pct: f64,
    /// Taken by the hypervisor.
    pub steal_pct: f64,
}

impl CpuTimes {
    /// Reads `/proc/stat`; `None` where there is none (not Linux).
    pub fn read() -> Option<CpuTimes> {
        parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The share of each kind of time from `self` to `later`; `None` when no
    /// tick passed.
    pub fn share_until(&self, later: &CpuTimes) -> Option<CpuShare> {
        let busy = later.busy.saturating_sub(self.busy);
        let idle = later.idle.saturating_sub(self.idle);
        let steal = later.steal.saturating_sub(self.steal);
        let total = busy + idle + steal;
        (total > 0).then(|| CpuShare {
            busy_pct: 100.0 * busy as f64 / total as f64,
            steal_pct: 100.0 * steal as f64 / total as f64,
        })
    }
}

/// Parses the aggregate `cpu` line of `/proc/stat`: user nice system idle
/// iowait irq softirq steal (guest time is already inside user and nice).
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let field = |index: usize| fields.get(index).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: field(0) + field(1) + field(2) + field(5) + field(6),
        idle: field(3) + field(4),
        steal: field(7),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregate_line_is_split_into_busy_idle_and_steal() {
        let text = "cpu  100 5 50 800 20 0 25 40 0 0\ncpu0 50 2 25 400 10 0 12 20 0 0\n";
        assert_eq!(
            parse_proc_stat(text),
            Some(CpuTimes {
                busy: 180,
                idle: 820,
                steal: 40,
            })
        );
    }

    #[test]
    fn shares_are_percentages_of_the_ticks_between_readings() {
        let before = CpuTimes {
            busy: 100,
            idle: 100,
            steal: 0,
        };
        let after = CpuTimes {
            busy: 160,
            idle: 120,
            steal: 20,
        };
        let share = before.share_until(&after).expect("ticks passed");
        assert!((share.busy_pct - 60.0).abs() < 1e-9);
        assert!((share.steal_pct - 20.0).abs() < 1e-9);
        assert_eq!(after.share_until(&after), None);
    }

    #[test]
    fn a_garbled_file_gives_nothing() {
        assert_eq!(parse_proc_stat("cpu  1 2 x\n"), None);
        assert_eq!(parse_proc_stat("intr 5\n"), None);
    }
}
