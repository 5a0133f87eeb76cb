//! What the runtime reports. The runtime never prints: it sends [`Event`]s, and the
//! terminal view and the NDJSON stream (`--output json`) are two readers of the same
//! events. The JSON form of each event is documented in the README and stable.

use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        flow: String,
        steps: usize,
        hosts: usize,
    },
    Connected {
        host: String,
        ms: u64,
    },
    ConnectFailed {
        host: String,
        error: String,
    },
    /// `rollback`: the step's rollback (its name is the step's own either way).
    StepStarted {
        step: String,
        index: usize,
        hosts: Vec<String>,
        rollback: bool,
    },
    /// A host begins the step (or its rollback).
    HostStarted {
        step: String,
        host: String,
        rollback: bool,
    },
    HostSkipped {
        step: String,
        host: String,
        reason: String,
    },
    ActionDone {
        step: String,
        host: String,
        action: String,
        rc: Option<i32>,
        ms: u64,
        changed: bool,
        rollback: bool,
    },
    Output {
        step: String,
        host: String,
        stream: &'static str,
        text: String,
    },
    Log {
        step: String,
        host: String,
        message: String,
    },
    HostDone {
        step: String,
        host: String,
        ok: bool,
        error: Option<String>,
        ms: u64,
        rollback: bool,
    },
    StepDone {
        step: String,
        ok: usize,
        failed: usize,
        skipped: usize,
        ms: u64,
        rollback: bool,
    },
    RollbackStarted {
        steps: Vec<String>,
    },
    NoReturn {
        message: String,
    },
    RunDone {
        status: RunStatus,
        exit_code: u8,
        ms: u64,
    },
}

/// How a run ended; each has its own exit code.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Success,
    FailedRolledBack,
    FailedRollbackFailed,
    FailedNoRollback,
    /// A step with `on_failure: "undo_host"` failed: the failing hosts' change of it was
    /// undone; everything before stands.
    FailedUndone,
    Interrupted,
    Refused,
}

impl RunStatus {
    pub fn exit_code(self) -> u8 {
        match self {
            RunStatus::Success => 0,
            RunStatus::FailedRolledBack => 1,
            RunStatus::FailedRollbackFailed => 3,
            RunStatus::FailedNoRollback => 4,
            RunStatus::FailedUndone => 7,
            RunStatus::Interrupted => 6,
            RunStatus::Refused => 5,
        }
    }
}

pub type Sender = tokio::sync::mpsc::UnboundedSender<Event>;
