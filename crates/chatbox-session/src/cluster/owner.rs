//! The owner's side of remote connections: connections of other replicas (their proxies) to a
//! session this replica runs. The owner treats each as one of its own connections — it gets a
//! local id, its inputs go through the same path as local ones, frames meant for it alone are
//! mailed to its replica — except that its `seq` frames reach it through the log, never by mail.
//!
//! A remote connection is forgotten when its proxy says it went away, when the proxy's periodic
//! `Present` no longer lists it, or when no `Present` came for a lease TTL (its replica died), so
//! a dead replica never keeps a session live or an admin "present".

use std::sync::Arc;
use std::time::Instant;

use chatbox_core::protocol::{Envelope, ErrorCode};
use chatbox_core::{Identity, SessionId, UserId};
use chrono::Utc;

use super::Cluster;
use super::log::LogTap;
use super::wire::{Body, Call, Mail, Outcome, WireError};
use crate::connection::{ConnId, Participant, next_conn_id};
use crate::engine::Shared;
use crate::error::EngineError;
use crate::task::{Input, SessionTask};

/// A connection of another replica's.
#[derive(Debug)]
struct RemoteConn {
    /// Its id in this task (inputs carry it like a local connection's).
    id: ConnId,
    replica: Arc<str>,
    /// Its id on its replica.
    conn: u64,
    identity: Identity,
    participant: Participant,
    seen: Instant,
}

/// What an owner keeps for the other replicas: its log tap and their connections.
pub(crate) struct Remote {
    cluster: Arc<Cluster>,
    tap: LogTap,
    conns: Vec<RemoteConn>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("conns", &self.conns)
            .finish_non_exhaustive()
    }
}

impl Remote {
    pub(crate) fn new(cluster: Arc<Cluster>, tap: LogTap) -> Self {
        Self {
            cluster,
            tap,
            conns: Vec::new(),
        }
    }

    /// Appends a `seq` frame to the log.
    pub(crate) fn log(&self, seq: u64, frame: &Arc<str>) {
        self.tap.push(seq, frame);
    }

    /// Mails a frame to one remote connection; false when `conn` is not remote.
    pub(crate) fn direct(&self, session: &SessionId, conn: ConnId, frame: &Arc<str>) -> bool {
        let Some(c) = self.conns.iter().find(|c| c.id == conn) else {
            return false;
        };
        let body = Body::Direct {
            conn: c.conn,
            frame: frame.to_string(),
        };
        self.cluster.post(&c.replica, session, body);
        true
    }

    /// Mails a frame without seq to every replica with connections, but not to `except`.
    pub(crate) fn live(&self, session: &SessionId, except: ConnId, frame: &Arc<str>) {
        let except = self.conns.iter().find(|c| c.id == except);
        for replica in self.replicas() {
            let except = except.filter(|c| c.replica == replica).map(|c| c.conn);
            let body = Body::Live {
                except,
                frame: frame.to_string(),
            };
            self.cluster.post(&replica, session, body);
        }
    }

    fn replicas(&self) -> Vec<Arc<str>> {
        let mut replicas: Vec<Arc<str>> =
            self.conns.iter().map(|c| Arc::clone(&c.replica)).collect();
        replicas.sort();
        replicas.dedup();
        replicas
    }

    /// True when `user` has a live remote connection.
    pub(crate) fn has_user(&self, user: &UserId) -> bool {
        self.conns.iter().any(|c| &c.identity.user_id == user)
    }

    /// Live remote connections (forgetting those not heard of for a lease TTL).
    pub(crate) fn connections(&mut self) -> usize {
        let ttl = self.cluster.broker.lease_ttl();
        self.conns.retain(|c| c.seen.elapsed() < ttl);
        self.conns.len()
    }

    /// Tells every replica with connections that this owner stops.
    pub(crate) fn close_all(&mut self, session: &SessionId) {
        for replica in self.replicas() {
            self.cluster.post(&replica, session, Body::Gone);
        }
        self.conns.clear();
    }

    /// The input of remote connection `conn` of `replica`, as a local input.
    fn input(
        &self,
        replica: &str,
        conn: u64,
        frame: chatbox_core::protocol::ClientFrame,
    ) -> Option<Input> {
        let c = self.find(replica, conn)?;
        Some(Input {
            conn: c.id,
            participant: c.participant,
            identity: c.identity.clone(),
            frame,
        })
    }

    fn find(&self, replica: &str, conn: u64) -> Option<&RemoteConn> {
        self.conns
            .iter()
            .find(|c| c.conn == conn && &*c.replica == replica)
    }
}

impl SessionTask {
    /// Mail about this session from another replica.
    pub(crate) async fn remote_mail(&mut self, mail: Mail) {
        let Mail {
            session,
            from,
            body,
        } = mail;
        let Some(remote) = self.fanout.remote_mut() else {
            return;
        };
        match body {
            Body::Attach {
                conn,
                identity,
                participant,
            } => {
                let id = next_conn_id();
                remote.conns.push(RemoteConn {
                    id,
                    replica: Arc::from(from.as_str()),
                    conn,
                    identity: identity.clone(),
                    participant,
                    seen: Instant::now(),
                });
                let status = self.status_frame(None);
                let seq = self.fanout.seq();
                let status = status.with_session(&session).with_seq(seq).encode();
                if let Some(remote) = self.fanout.remote_mut() {
                    remote
                        .cluster
                        .post(&from, &session, Body::Attached { conn, status });
                }
                if participant == Participant::Admin {
                    self.admin_attached(id, &identity).await;
                }
            }
            Body::Detach { conn } => remote
                .conns
                .retain(|c| !(c.conn == conn && *c.replica == *from)),
            Body::Input { conn, frame } => match remote.input(&from, conn, frame) {
                Some(input) => self.command_input(input).await,
                None => remote.cluster.post(&from, &session, Body::Gone),
            },
            Body::Present { conns } => {
                let now = Instant::now();
                remote.conns.retain_mut(|c| {
                    if *c.replica != *from {
                        return true;
                    }
                    let listed = conns.contains(&c.conn);
                    if listed {
                        c.seen = now;
                    }
                    listed
                });
            }
            Body::Call { id, call } => {
                let outcome = self.remote_call(call).await;
                let outcome = outcome.map_err(|e| WireError::from(&e));
                if let Some(remote) = self.fanout.remote_mut() {
                    remote
                        .cluster
                        .post(&from, &session, Body::Answer { id, outcome });
                }
            }
            // Mail for a proxy: this replica owns the session now, so that proxy is stale.
            Body::Attached { .. }
            | Body::Direct { .. }
            | Body::Live { .. }
            | Body::Answer { .. } => {}
            Body::Gone => {}
        }
    }

    async fn remote_call(&mut self, call: Call) -> Result<Outcome, EngineError> {
        match call {
            Call::Op(op) => {
                let (done, outcome) = tokio::sync::oneshot::channel();
                self.op_request(crate::task::OpRequest { op, done }).await;
                match outcome.await {
                    Ok(result) => result.map(Outcome::Op),
                    Err(_) => Err(EngineError::Busy),
                }
            }
            Call::Takeover(admin) => self.take_over(&admin).await.map(|()| Outcome::Done),
            Call::Release(admin) => self
                .release(&admin, "release")
                .await
                .map(|()| Outcome::Done),
        }
    }
}

/// Answers mail about a session this replica does not run: its proxy's connections must go
/// back to whoever runs it now; a call gets `NotFound` so its caller retries.
pub(crate) fn refuse(shared: &Shared, mail: Mail) {
    let Some(cluster) = &shared.cluster else {
        return;
    };
    match mail.body {
        Body::Attach { .. } | Body::Input { .. } | Body::Present { .. } => {
            cluster.post(&mail.from, &mail.session, Body::Gone);
        }
        Body::Call { id, .. } => {
            let outcome = Err(WireError::NotFound);
            cluster.post(&mail.from, &mail.session, Body::Answer { id, outcome });
        }
        _ => {}
    }
}

/// The error a client gets when its input cannot reach the session's owner.
pub(crate) fn unreachable_owner() -> Envelope {
    Envelope::error(
        ErrorCode::SessionBusy,
        "The session is moving to another server: please retry",
        Utc::now(),
    )
}

/// What a session task needs to own its session among several replicas.
pub(crate) struct OwnerLink {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) lease_key: String,
    pub(crate) token: u64,
    /// Cancelled when the lease is lost.
    pub(crate) lost: tokio_util::sync::CancellationToken,
    pub(crate) inherited: super::log::Inherited,
    pub(crate) tap: LogTap,
}

/// What an owning task keeps of its link once running.
pub(crate) struct Owned {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) lease_key: String,
    pub(crate) token: u64,
    pub(crate) lost: tokio_util::sync::CancellationToken,
    /// The model of a reply the previous owner left unfinished.
    pub(crate) cut_reply: Option<String>,
}

impl SessionTask {
    /// Ends the reply a previous owner was streaming when it stopped: an error, then its done
    /// frame, so every client knows the reply will not complete (nothing is repeated).
    pub(crate) fn end_cut_reply(&mut self) {
        let Some(model) = self.owned.as_mut().and_then(|o| o.cut_reply.take()) else {
            return;
        };
        let now = Utc::now();
        self.fanout.publish(Envelope::error(
            ErrorCode::LlmError,
            "The reply was interrupted: the server writing it stopped. Please ask again.",
            now,
        ));
        self.fanout.publish(Envelope::ai_done(
            &model,
            None,
            None,
            Some("replica_lost"),
            now,
        ));
    }

    /// Frees the lease when the task stops.
    pub(crate) async fn release_lease(&mut self) {
        if let Some(owned) = self.owned.take() {
            owned
                .cluster
                .leases
                .release(&owned.lease_key, owned.token)
                .await;
        }
    }
}
