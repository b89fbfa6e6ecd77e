//! The broker's memory while the suite runs: `/proc/<pid>/status` sampled
//! every 250 ms. `VmRSS` counts every resident page; `RssAnon` leaves out
//! file pages (the mmap'd segments and indexes, the JVM's jars), which is
//! the "page cache excluded" figure the 256 MiB target is about.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

/// How often the sampler reads the status file.
pub const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// One reading of a process's resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RssSample {
    /// `VmRSS` in bytes.
    pub rss_bytes: u64,
    /// `RssAnon` in bytes.
    pub anon_bytes: u64,
}

/// The largest readings over a broker's workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RssPeak {
    /// Largest `VmRSS`, page cache pages mapped by the process included.
    pub max_rss_bytes: u64,
    /// Largest `RssAnon`: heap and stacks, page cache excluded.
    pub max_anon_bytes: u64,
    /// Readings taken.
    pub samples: u64,
}

impl RssPeak {
    fn add(&mut self, sample: RssSample) {
        self.max_rss_bytes = self.max_rss_bytes.max(sample.rss_bytes);
        self.max_anon_bytes = self.max_anon_bytes.max(sample.anon_bytes);
        self.samples += 1;
    }
}

/// Reads `VmRSS` and `RssAnon` from the text of `/proc/<pid>/status`
/// (values in kB); `None` when either line is missing.
pub fn parse_status(text: &str) -> Option<RssSample> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kilobytes| kilobytes.parse::<u64>().ok())
            .map(|kilobytes| kilobytes * 1024)
    };
    Some(RssSample {
        rss_bytes: field("VmRSS:")?,
        anon_bytes: field("RssAnon:")?,
    })
}

/// A thread that samples one process until stopped.
#[derive(Debug)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<RssPeak>,
}

impl RssSampler {
    /// Starts sampling process `pid` every [`RSS_SAMPLE_INTERVAL`].
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let mut peak = RssPeak::default();
            // Read first, then check the flag: even a sampler stopped at once
            // takes one reading.
            loop {
                // A process that exited has no status file; the peak so far stands.
                if let Some(sample) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| parse_status(&text))
                {
                    peak.add(sample);
                }
                if stopped.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(RSS_SAMPLE_INTERVAL);
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling and returns the peak, `None` when no reading was taken.
    pub fn stop(self) -> Option<RssPeak> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().filter(|peak| peak.samples > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsluice\nVmPeak:\t  900 kB\nVmRSS:\t   20480 kB\n\
                          RssAnon:\t    8192 kB\nRssFile:\t   12288 kB\nThreads:\t4\n";

    #[test]
    fn status_gives_resident_and_anonymous_bytes() {
        let sample = parse_status(STATUS).expect("both fields present");
        assert_eq!(sample.rss_bytes, 20480 * 1024);
        assert_eq!(sample.anon_bytes, 8192 * 1024);
    }

    #[test]
    fn status_without_rss_anon_is_not_a_sample() {
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t100 kB\n"), None);
    }

    #[test]
    fn peak_keeps_the_largest_of_each_figure() {
        let mut peak = RssPeak::default();
        peak.add(RssSample {
            rss_bytes: 10,
            anon_bytes: 7,
        });
        peak.add(RssSample {
            rss_bytes: 20,
            anon_bytes: 5,
        });
        assert_eq!(
            (peak.max_rss_bytes, peak.max_anon_bytes, peak.samples),
            (20, 7, 2)
        );
    }

    #[test]
    fn sampler_reads_this_process() {
        let sampler = RssSampler::start(std::process::id());
        let peak = sampler
            .stop()
            .expect("the first reading is taken before the stop is seen");
        assert!(peak.max_rss_bytes > 0);
    }
}
