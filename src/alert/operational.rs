//! What the guard's alerts about itself share: the sweep's "INCOMPLETE"
//! alert ([`crate::sweep_alert`]) and the "guard IMPAIRED" alert
//! ([`crate::wiring::alert`]) have the same Chatbot card, the same views
//! and the same message attributes, told apart by their [`Outcome`]. Pure.

use serde::Serialize;
use serde_json::json;

use crate::outcome::Outcome;

/// Where an alert about the guard itself comes from, and what it tells.
pub struct Operational<'a> {
    pub outcome: Outcome,
    pub account: &'a str,
    pub region: &'a str,
}

impl<'a> Operational<'a> {
    pub fn new(outcome: Outcome, account: &'a str, region: &'a str) -> Operational<'a> {
        Operational {
            outcome,
            account,
            region,
        }
    }
}

/// What the Chatbot card of an alert about the guard itself says.
pub struct Card<'a> {
    pub title: String,
    pub description: String,
    pub next_steps: Vec<&'a str>,
    /// The thread's kind (`eks-endpoint-guard/<thread>/<account>/<region>`).
    pub thread: &'a str,
    pub summary: &'a str,
}

/// An alert about the guard itself: its machine view is the alert
/// serialized; people read [`email_text`](Self::email_text), Chatbot the
/// [`card`](Self::card).
pub trait OperationalAlert: Serialize {
    fn operational(&self) -> Operational<'_>;

    /// The `email` view: plain text.
    fn email_text(&self) -> String;

    fn card(&self) -> Card<'_>;

    /// The AWS Chatbot custom notification (the `https` view).
    fn chatbot_notification(&self) -> serde_json::Value {
        let Operational {
            outcome,
            account,
            region,
        } = self.operational();
        let card = self.card();
        json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": card.title,
                "description": card.description,
                "nextSteps": card.next_steps,
            },
            "metadata": {
                "threadId": format!("eks-endpoint-guard/{}/{account}/{region}", card.thread),
                "summary": card.summary,
                "eventType": outcome.label(),
            }
        })
    }

    /// The whole `Message` for `MessageStructure=json`.
    fn message(&self) -> Result<String, serde_json::Error> {
        super::views(
            &serde_json::to_string(self)?,
            &self.email_text(),
            &self.chatbot_notification(),
        )
    }

    /// Message attributes for subscription filter policies.
    fn attributes(&self) -> Vec<(&'static str, String)> {
        let Operational {
            outcome,
            account,
            region,
        } = self.operational();
        vec![
            ("action", outcome.label().to_string()),
            ("account", account.to_string()),
            ("region", region.to_string()),
        ]
    }
}
