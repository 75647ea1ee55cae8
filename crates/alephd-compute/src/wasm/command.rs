//! Persistent Wasm programs (`on.persistent`): `wasi:cli/command` components whose `run` the
//! runtime starts and watches. The runtime does not restart them by itself: the supervisor's
//! keeper calls [`WasmRuntime::keep`] periodically, which reports a command that failed (so
//! the keeper can back off) and starts one that is not running.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use wasmtime_wasi::{I32Exit, p2::bindings::CommandPre};

use super::{
    WasmError, WasmOutput, WasmProgram,
    host::Capture,
    runtime::{AbortOnDrop, Instance, WasmRuntime},
};

/// Output kept per persistent program and stream: its latest lines.
const OUTPUT_KEPT: usize = crate::supervisor::OUTPUT_KEPT;

/// A persistent program's running (or just ended) command.
pub(crate) struct Command {
    /// The version it runs: another one (new code or settings) replaces it.
    program: WasmProgram,
    stdout: Capture,
    stderr: Capture,
    /// How it ended, once it has.
    ended: Arc<Mutex<Option<Result<(), String>>>>,
    started: Instant,
    /// Dropping the entry stops the command.
    _task: AbortOnDrop,
}

impl Command {
    fn ended(&self) -> Option<Result<(), String>> {
        self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn output(&self) -> WasmOutput {
        WasmOutput {
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            cold: true,
        }
    }
}

/// What [`WasmRuntime::keep`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandStatus {
    /// Its current version was running already.
    Running,
    /// It was not running (never started, a new version, or it exited cleanly): started now.
    Started,
}

impl WasmRuntime {
    /// Makes sure the persistent `program` runs its current version. A command that failed
    /// since the last call is reported as that failure, with its last output, and left
    /// stopped: the next call starts it again (the caller decides when).
    pub async fn keep(
        &self,
        program: &WasmProgram,
    ) -> (Result<CommandStatus, WasmError>, WasmOutput) {
        {
            let mut commands = self.lock_commands();
            if let Some(command) = commands.get(&program.id) {
                match command.ended() {
                    None if command.program == *program => {
                        return (Ok(CommandStatus::Running), WasmOutput::default());
                    }
                    Some(Err(why)) => {
                        let output = command.output();
                        let ran = command.started.elapsed().as_secs_f64();
                        commands.remove(&program.id);
                        let why = format!("the command failed after {ran:.1} s: {why}");
                        return (Err(WasmError::Trap(why)), output);
                    }
                    // Ended cleanly, or an older version: start the current one.
                    _ => {
                        commands.remove(&program.id);
                    }
                }
            }
        }
        match self.start_command(program).await {
            Ok(command) => {
                let output = command.output();
                self.lock_commands().insert(program.id.clone(), command);
                (Ok(CommandStatus::Started), output)
            }
            Err(e) => (Err(e), WasmOutput::default()),
        }
    }

    /// Whether the persistent program `id` has a command running now.
    pub fn command_running(&self, id: &str) -> bool {
        self.lock_commands()
            .get(id)
            .is_some_and(|c| c.ended().is_none())
    }

    /// The latest output of the persistent program `id`.
    pub fn command_output(&self, id: &str) -> Option<WasmOutput> {
        self.lock_commands().get(id).map(Command::output)
    }

    /// Stops the persistent program `id` (no longer wanted).
    pub fn stop_command(&self, id: &str) {
        self.lock_commands().remove(id);
    }

    async fn start_command(&self, program: &WasmProgram) -> Result<Command, WasmError> {
        super::runtime::check_memory(&self.inner.config, program)?;
        let component = self.component(&program.code).await?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .and_then(CommandPre::new)
            .map_err(|e| {
                WasmError::BadCode(format!(
                    "a persistent program must be a wasi:cli command (a `main`): {e:#}"
                ))
            })?;
        let stdout = Capture::tail(OUTPUT_KEPT);
        let stderr = Capture::tail(OUTPUT_KEPT);
        let Instance {
            mut store,
            cleanup,
            watcher,
            stop,
        } = self.instance(program, &stdout, &stderr, false).await?;
        let ended = Arc::new(Mutex::new(None));
        let report = Arc::clone(&ended);
        let id = program.id.clone();
        let task = tokio::spawn(async move {
            let _cleanup = cleanup;
            let _watcher = watcher;
            let result = async {
                let command = pre.instantiate_async(&mut store).await?;
                command.wasi_cli_run().call_run(&mut store).await
            }
            .await;
            let outcome = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(())) => Err("it returned a failure".to_owned()),
                Err(e) => match (e.downcast_ref::<I32Exit>(), stop.get()) {
                    (_, Some((mount, size_mib))) => {
                        Err(format!("it grew volume {mount} past its {size_mib} MiB"))
                    }
                    (Some(I32Exit(0)), None) => Ok(()),
                    // WASI 0.2's `exit` carries success or failure, not the code.
                    (Some(I32Exit(_)), None) => Err("it exited with a failure status".to_owned()),
                    (None, None) => Err(format!("{e:#}")),
                },
            };
            match &outcome {
                Ok(()) => tracing::info!(program = %id, "persistent wasm program ended"),
                Err(why) => tracing::info!(program = %id, "persistent wasm program failed: {why}"),
            }
            *report.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        });
        Ok(Command {
            program: program.clone(),
            stdout,
            stderr,
            ended,
            started: Instant::now(),
            _task: AbortOnDrop(task),
        })
    }

    fn lock_commands(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Command>> {
        self.inner
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}
