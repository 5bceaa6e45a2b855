//! The Laravel integration: which session is the application's sales number and which its
//! coordination number, kept in the store and written into the application's `.env`.
//!
//! An assignment changes the `.env` first and the store second, under one lock, so that
//! concurrent assigns apply one after the other and a failed rewrite changes nothing. With
//! `--auto-switch`, an assigned session that stays FAILED, STOPPED or unlinked longer than the
//! grace period hands its assignment to a WORKING session that has none.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::laravel::env_file::{self as laravel_env, EnvError};
use crate::sessions::events::{EventBus, EventKind};
use crate::sessions::registry::{Registry, RegistryError};
use crate::sessions::session::{Session, Status, now_ms};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sells,
    Coordination,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Sells, Kind::Coordination];

    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "sells" => Some(Kind::Sells),
            "coordination" => Some(Kind::Coordination),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sells => "sells",
            Kind::Coordination => "coordination",
        }
    }

    fn env_prefix(self) -> &'static str {
        match self {
            Kind::Sells => "WHATSAPP_SELLS",
            Kind::Coordination => "WHATSAPP_COORDINATION",
        }
    }
}

#[derive(Debug, Error)]
pub enum AssignError {
    #[error(transparent)]
    Session(#[from] RegistryError),
    #[error("session {0:?} is not linked to a phone yet: scan its QR code first")]
    NotLinked(String),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub session_id: String,
    pub phone_number: Option<String>,
    pub status: Status,
    /// Where the Laravel application sends this number's messages.
    pub url: String,
    /// Whether the `.env` was rewritten (false when no `--laravel-env` is set).
    pub env_updated: bool,
}

/// The assignments, over the store and the event bus; the sessions they point at are looked up
/// in the [`Registry`] each call is given, which does not know of assignments.
pub struct Assignments {
    env: Option<PathBuf>,
    public_url: String,
    store: Arc<Store>,
    events: EventBus,
    lock: Mutex<()>,
}

impl Assignments {
    pub fn new(
        env: Option<PathBuf>,
        public_url: String,
        store: Arc<Store>,
        events: EventBus,
    ) -> Self {
        Assignments {
            env,
            public_url: public_url.trim_end_matches('/').to_owned(),
            store,
            events,
            lock: Mutex::new(()),
        }
    }

    fn url(&self, session_id: &str) -> String {
        format!("{}/api/sessions/{session_id}/send-message", self.public_url)
    }

    fn view(&self, kind: Kind, session: &Session, env_updated: bool) -> Assignment {
        let state = session.state();
        Assignment {
            kind,
            session_id: session.id.clone(),
            phone_number: state.phone_number,
            status: state.status,
            url: self.url(&session.id),
            env_updated,
        }
    }

    /// Points `kind` at session `session_id`; `reason` is said in the event (an automatic
    /// switch says why).
    pub async fn assign(
        &self,
        sessions: &Registry,
        kind: Kind,
        session_id: &str,
        reason: Option<String>,
    ) -> Result<Assignment, AssignError> {
        let _serial = self.lock.lock().await;
        let session = sessions.get(session_id)?;
        let phone = session
            .state()
            .phone_number
            .ok_or_else(|| AssignError::NotLinked(session_id.to_owned()))?;
        let url = self.url(session_id);
        if let Some(env) = &self.env {
            let prefix = kind.env_prefix();
            let keys = [
                format!("{prefix}_SESSION_ID"),
                format!("{prefix}_NUMBER"),
                format!("{prefix}_URL"),
            ];
            let updates = [
                (keys[0].as_str(), session_id),
                (keys[1].as_str(), phone.as_str()),
                (keys[2].as_str(), url.as_str()),
            ];
            let env = env.clone();
            let updates: Vec<(String, String)> = updates
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            tokio::task::spawn_blocking(move || {
                let pairs: Vec<(&str, &str)> = updates
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                laravel_env::rewrite(&env, &pairs)
            })
            .await
            .map_err(|e| EnvError::Write {
                path: self.env.clone().unwrap_or_default(),
                source: std::io::Error::other(e),
            })??;
        }
        self.store
            .set_assignment(kind.as_str(), session_id, now_ms())?;
        tracing::info!(session = %session_id, kind = kind.as_str(), ?reason, "number assigned");
        self.events.publish(
            session_id,
            EventKind::Assignment {
                assignment_type: kind.as_str().to_owned(),
                phone_number: phone,
                reason,
            },
        );
        Ok(self.view(kind, &session, self.env.is_some()))
    }

    /// Both assignments, `None` where there is none.
    pub fn current(
        &self,
        sessions: &Registry,
    ) -> Result<Vec<(Kind, Option<Assignment>)>, AssignError> {
        Kind::ALL
            .into_iter()
            .map(|kind| {
                let assigned = self.store.assignment(kind.as_str())?;
                let view = assigned
                    .and_then(|id| sessions.get(&id).ok())
                    .map(|s| self.view(kind, &s, self.env.is_some()));
                Ok((kind, view))
            })
            .collect()
    }

    /// Moves each assignment whose session has been unusable for `grace` to a WORKING
    /// session that has no assignment.
    pub async fn auto_switch(&self, sessions: &Registry, grace: Duration) {
        let current = match self.current(sessions) {
            Ok(current) => current,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the assignments");
                return;
            }
        };
        let assigned: Vec<String> = current
            .iter()
            .filter_map(|(_, a)| a.as_ref().map(|a| a.session_id.clone()))
            .collect();
        for (kind, assignment) in current {
            let Some(assignment) = assignment else {
                continue;
            };
            let Ok(session) = sessions.get(&assignment.session_id) else {
                continue;
            };
            let state = session.state();
            let unusable = matches!(state.status, Status::Failed | Status::Stopped)
                || state.phone_number.is_none();
            let for_ms = now_ms() - state.status_since;
            if !unusable || for_ms < grace.as_millis() as i64 {
                continue;
            }
            let candidate = sessions.list().into_iter().find(|s| {
                let st = s.state();
                st.status == Status::Working
                    && st.phone_number.is_some()
                    && !assigned.contains(&s.id)
            });
            let Some(candidate) = candidate else {
                tracing::debug!(kind = kind.as_str(), "no WORKING session to switch to");
                continue;
            };
            let reason = format!(
                "{} was {} for {} s",
                session.id,
                state.status.as_str(),
                for_ms / 1000
            );
            tracing::warn!(kind = kind.as_str(), from = %session.id, to = %candidate.id, %reason, "switching the assignment");
            if let Err(e) = self
                .assign(sessions, kind, &candidate.id, Some(reason))
                .await
            {
                tracing::error!(error = %e, "the automatic switch failed");
            }
            return;
        }
    }
}
