//! Child processes (the `portcullis` server, the hello server) that must never outlive
//! the bench: each is held by a [`ChildGuard`] that kills it when dropped, and all of
//! them sit in a process-wide registry so that the hard-timeout watchdog and Ctrl-C,
//! which end the process without unwinding, can kill them too ([`kill_all`]).

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Every running child, by pid.
fn registry() -> MutexGuard<'static, HashMap<u32, Child>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u32, Child>>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running child process, killed (SIGKILL) and reaped when the guard is dropped.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    pid: u32,
    name: String,
}

impl ChildGuard {
    /// Spawns `command`; `name` is used in messages.
    pub(crate) fn spawn(mut command: Command, name: &str) -> std::io::Result<ChildGuard> {
        let mut registry = registry();
        let child = command.spawn()?;
        let pid = child.id();
        registry.insert(pid, child);
        Ok(ChildGuard {
            pid,
            name: name.to_owned(),
        })
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(description)` when the child has already exited.
    pub(crate) fn exited(&self) -> Option<String> {
        let mut registry = registry();
        let child = registry.get_mut(&self.pid)?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited early ({status})", self.name)),
            Ok(None) => None,
            Err(error) => Some(format!("{}: cannot check its status: {error}", self.name)),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let child = registry().remove(&self.pid);
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Kills every registered child: for exits that skip destructors.
pub(crate) fn kill_all() {
    let mut registry = registry();
    for (_, mut child) in registry.drain() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
