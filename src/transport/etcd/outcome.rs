//! Membership failures, classified once (the guards decide on a kind, never on text).

use super::*;

/// What a membership request's failure means, classified once here so that the guards
/// decide on a kind, never on message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The peer URL is already a member's (`ErrPeerURLExist`).
    AlreadyExists,
    /// No such member (`ErrMemberNotFound`).
    NotFound,
    /// A learner not yet in sync with the leader (`ErrLearnerNotReady`): retry.
    NotReady,
    /// No answer within the deadline, or the endpoint is down: the outcome is unknown.
    Unavailable,
    Other,
}

#[derive(Clone, Debug)]
pub struct EtcdError {
    pub kind: Outcome,
    pub message: String,
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for EtcdError {
    fn from(message: String) -> EtcdError {
        EtcdError {
            kind: Outcome::Other,
            message,
        }
    }
}

fn classify(e: &etcd_client::Error) -> Outcome {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            // gRPC status codes (tonic's numbering): 4 DeadlineExceeded, 5 NotFound,
            // 14 Unavailable; etcd reports its own errors as FailedPrecondition with a
            // fixed message (`rpctypes`), so those are told apart by it, here only.
            let m = s.message();
            match s.code() as i32 {
                _ if m.contains("Peer URLs already exists") => Outcome::AlreadyExists,
                5 => Outcome::NotFound,
                _ if m.contains("member not found") => Outcome::NotFound,
                _ if m.contains("not ready") || m.contains("in sync with leader") => {
                    Outcome::NotReady
                }
                4 | 14 => Outcome::Unavailable,
                _ => Outcome::Other,
            }
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => {
            Outcome::Unavailable
        }
        _ => Outcome::Other,
    }
}

impl Conf {
    /// Like `deadline`, with the failure classified.
    pub(super) async fn membership<T, F>(&self, what: &str, f: F) -> Result<T, EtcdError>
    where
        F: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(EtcdError {
                kind: classify(&e),
                message: format!("{what}: {e}"),
            }),
            Err(_) => Err(EtcdError {
                kind: Outcome::Unavailable,
                message: format!("{what}: no answer within {:?}", self.timeout),
            }),
        }
    }
}
