//! Peak resident memory of the worker's processes: the children of this process running the
//! worker's binary, sampled from /proc (`VmHWM`, the high-water mark of the resident set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every worker process seen so far and its highest `VmHWM`.
#[derive(Debug)]
pub struct PeakRss {
    executable: PathBuf,
    parent: u32,
    /// pid → kB.
    peaks: BTreeMap<u32, u64>,
}

impl PeakRss {
    /// Watches children of this process whose executable is `executable`.
    pub fn new(executable: &Path) -> Self {
        PeakRss {
            executable: std::fs::canonicalize(executable)
                .unwrap_or_else(|_| executable.to_path_buf()),
            parent: std::process::id(),
            peaks: BTreeMap::new(),
        }
    }

    /// Reads the high-water mark of every matching process now alive.
    pub fn sample(&mut self) {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            if !self.is_worker(&dir) {
                continue;
            }
            if let Some(kb) = status_field(&dir, "VmHWM:") {
                let peak = self.peaks.entry(pid).or_default();
                *peak = (*peak).max(kb);
            }
        }
    }

    fn is_worker(&self, dir: &Path) -> bool {
        let Ok(exe) = std::fs::read_link(dir.join("exe")) else {
            return false;
        };
        // A binary rebuilt while it runs reads as "<path> (deleted)".
        let exe = exe.to_string_lossy();
        let wanted = self.executable.to_string_lossy();
        let same = exe == wanted || exe.strip_suffix(" (deleted)") == Some(&*wanted);
        same && status_field(dir, "PPid:") == Some(u64::from(self.parent))
    }

    /// The highest peak of any instance, in kB.
    pub fn max_kb(&self) -> Option<u64> {
        self.peaks.values().copied().max()
    }

    /// How many distinct worker processes were seen.
    pub fn instances(&self) -> usize {
        self.peaks.len()
    }
}

/// The first number of a `/proc/<pid>/status` line (`VmHWM:   12345 kB`).
fn status_field(dir: &Path, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_status() {
        let me = Path::new("/proc/self");
        assert!(status_field(me, "VmHWM:").is_some_and(|kb| kb > 0));
        assert!(status_field(me, "NoSuchField:").is_none());
    }
}
