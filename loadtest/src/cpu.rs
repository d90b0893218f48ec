//! CPU time per process over the measured window, from `/proc/<pid>/stat`: user + system time
//! of the process and of its children it reaped (PostgreSQL's postmaster reaps its backends;
//! Weft reaps its code runners). A probe is one pid (`name=pid`) or every process whose
//! command name matches (`name=comm:postgres`): PostgreSQL is many processes.

use std::{collections::BTreeMap, time::Instant};

/// One thing to measure.
#[derive(Debug, Clone)]
pub struct Probe {
    name: String,
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Pid(u32),
    Comm(String),
}

impl std::str::FromStr for Probe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, what) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not NAME=PID or NAME=comm:COMMAND"))?;
        let target = match what.strip_prefix("comm:") {
            Some(comm) => Target::Comm(comm.to_string()),
            None => Target::Pid(what.parse().map_err(|e| format!("`{what}`: {e}"))?),
        };
        Ok(Self {
            name: name.to_string(),
            target,
        })
    }
}

impl Probe {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Resident memory in KiB (`VmRSS`) of a single-process probe.
    pub fn rss_kib(&self) -> Option<u64> {
        let Target::Pid(pid) = self.target else {
            return None;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
}

/// CPU seconds of each probe (and of this process, as `generator`) at one instant.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    seconds: BTreeMap<String, f64>,
}

/// Take a sample of `probes`.
pub fn sample(probes: &[Probe]) -> Sample {
    let tick = ticks_per_second();
    let mut seconds = BTreeMap::new();
    for p in probes {
        let ticks = match &p.target {
            Target::Pid(pid) => stat(&format!("/proc/{pid}/stat")).map(|(_, t)| t),
            Target::Comm(comm) => Some(by_comm(comm)),
        };
        seconds.insert(p.name.clone(), ticks.unwrap_or(0) as f64 / tick);
    }
    let own = stat("/proc/self/stat").map_or(0, |(_, t)| t);
    seconds.insert("generator".into(), own as f64 / tick);
    Sample {
        at: Instant::now(),
        seconds,
    }
}

/// Milliseconds of CPU per run between two samples, per probe and in all, with the window.
pub fn per_run(before: &Sample, after: &Sample, runs: u64) -> serde_json::Value {
    let mut per = serde_json::Map::new();
    let mut total = 0.0;
    for (name, end) in &after.seconds {
        let used = end - before.seconds.get(name).copied().unwrap_or(0.0);
        let ms = if runs > 0 {
            used * 1000.0 / runs as f64
        } else {
            f64::NAN
        };
        total += ms;
        per.insert(name.clone(), serde_json::json!(ms));
    }
    per.insert("total".into(), serde_json::json!(total));
    serde_json::json!({
        "window_s": after.at.duration_since(before.at).as_secs_f64(),
        "runs": runs,
        "ms_per_run": per,
    })
}

/// `(comm, utime + stime + cutime + cstime)` from a stat file.
fn stat(path: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last `)`.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14 … cstime 17.
    let sum = (11..=14)
        .filter_map(|i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Some((comm, sum))
}

fn by_comm(comm: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| stat(&format!("{}/stat", e.path().display())))
        .filter(|(c, _)| c == comm)
        .map(|(_, t)| t)
        .sum()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux in practice).
fn ticks_per_second() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
