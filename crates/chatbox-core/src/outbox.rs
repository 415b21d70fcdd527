//! The help-request outbox (CONTRACT §5): a help request is recorded with one delivery per
//! configured channel *before* anything is sent, and each delivery's outcome is recorded as it
//! happens. A process that dies between the click and the send leaves pending deliveries that the
//! next process sends; nothing is lost and nothing already delivered is sent again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::ports::notify::HelpNotice;

/// Where one channel's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: it is being tried, or will be (after a restart too).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on (a permanent error, or too many attempts).
    Failed,
}

impl DeliveryState {
    /// The spelling used in frames and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// One channel's delivery of a help request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The channel (`smtp`, `ses`, `sms`, `webhook`, `log`).
    pub channel: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last failure, for operators (never message content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the state last changed.
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// A delivery not yet attempted.
    pub fn pending(channel: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            channel: channel.into(),
            state: DeliveryState::Pending,
            attempts: 0,
            last_error: None,
            updated_at: now,
        }
    }
}

/// A recorded help request: what staff are told, and each channel's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRequest {
    /// Unique id of the request.
    pub id: String,
    /// The notice sent on every channel (its session and time included).
    pub notice: HelpNotice,
    /// One delivery per channel configured when the request was made.
    pub deliveries: Vec<Delivery>,
}

impl HelpRequest {
    /// The session the request is about.
    pub fn session_id(&self) -> &SessionId {
        &self.notice.session_id
    }

    /// When it was made.
    pub fn requested_at(&self) -> DateTime<Utc> {
        self.notice.requested_at
    }

    /// True while some channel has not been delivered nor given up on.
    pub fn is_pending(&self) -> bool {
        self.deliveries
            .iter()
            .any(|d| d.state == DeliveryState::Pending)
    }

    /// Replaces the delivery of `delivery.channel`; false when the request has no such channel.
    pub fn set_delivery(&mut self, delivery: &Delivery) -> bool {
        match self
            .deliveries
            .iter_mut()
            .find(|d| d.channel == delivery.channel)
        {
            Some(d) => {
                *d = delivery.clone();
                true
            }
            None => false,
        }
    }
}
