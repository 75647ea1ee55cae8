//! A one-line progress bar with throughput on stderr, drawn only when stderr is a terminal
//! (pipes and logs stay clean). Redrawn at most 10 times a second.

use std::{
    io::{IsTerminal, Write},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alephd_sdk::{NoProgress, TransferPhase, TransferProgress};

const REDRAW: Duration = Duration::from_millis(100);
const MIB: f64 = 1024.0 * 1024.0;

/// The progress reporter for this process: a bar on a terminal, nothing otherwise.
pub(crate) fn for_stderr() -> Arc<dyn TransferProgress> {
    if std::io::stderr().is_terminal() {
        Arc::new(Bar::default())
    } else {
        Arc::new(NoProgress)
    }
}

#[derive(Debug, Default)]
struct Bar {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            phase: "",
            total: None,
            done: 0,
            started: Instant::now(),
            drawn: None,
        }
    }
}

impl State {
    fn line(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.done as f64 / MIB / seconds;
        match self.total {
            Some(total) if total > 0 => {
                let fraction = (self.done as f64 / total as f64).min(1.0);
                let filled = (fraction * 30.0) as usize;
                format!(
                    "{:<11} [{}{}] {:>3.0}% {:.1}/{:.1} MiB {:.1} MiB/s",
                    self.phase,
                    "#".repeat(filled),
                    "-".repeat(30 - filled),
                    fraction * 100.0,
                    self.done as f64 / MIB,
                    total as f64 / MIB,
                    rate
                )
            }
            _ => format!(
                "{:<11} {:.1} MiB {:.1} MiB/s",
                self.phase,
                self.done as f64 / MIB,
                rate
            ),
        }
    }

    fn draw(&mut self, force: bool) {
        let now = Instant::now();
        if !force && self.drawn.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.drawn = Some(now);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.line());
        let _ = err.flush();
    }
}

impl TransferProgress for Bar {
    fn begin(&self, phase: TransferPhase, total: Option<u64>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.drawn.is_some() {
            state.draw(true);
            let _ = writeln!(std::io::stderr());
        }
        *state = State {
            phase: match phase {
                TransferPhase::Hashing => "hashing",
                TransferPhase::Uploading => "uploading",
                TransferPhase::Downloading => "downloading",
            },
            total,
            ..State::default()
        };
        state.draw(true);
    }

    fn advance(&self, bytes: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.done += bytes;
            state.draw(false);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Ok(state) = self.state.get_mut()
            && state.drawn.is_some()
        {
            state.draw(true);
            let _ = writeln!(std::io::stderr());
        }
    }
}
