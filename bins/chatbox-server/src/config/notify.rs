//! Staff notification channels from the environment (CONTRACT §10): SMTP or SES v2 email to
//! `ADMIN_EMAILS`, Twilio-compatible SMS to `ADMIN_PHONES`, and a signed webhook. A channel is on
//! when any of its own keys is set; a half-set channel (say `SMTP_HOST` without `EMAIL_FROM`) is
//! a startup error naming what is missing, as are recipients with no channel to reach them.
//! The Go file's `[mail]`, `[sms]` and `[notification]` sections supply the same settings; the
//! environment wins.

use std::collections::HashMap;

use chatbox_notify::{FieldProblem, SesConfig, SmsConfig, SmtpConfig, SmtpTls, WebhookConfig, sms};

use super::file::{MailSection, NotificationSection, SmsSection, split_csv};
use super::resolver::Resolver;
use crate::secret::mask;

/// The configured channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySettings {
    /// SMTP email.
    pub smtp: Option<SmtpConfig>,
    /// SES v2 email.
    pub ses: Option<SesConfig>,
    /// SMS.
    pub sms: Option<SmsConfig>,
    /// Signed JSON webhook.
    pub webhook: Option<WebhookConfig>,
}

impl NotifySettings {
    /// True when no channel is configured.
    pub fn is_empty(&self) -> bool {
        self.smtp.is_none() && self.ses.is_none() && self.sms.is_none() && self.webhook.is_none()
    }
}

/// Keys whose values are never shown in errors.
const SECRET_KEYS: [&str; 4] = [
    "SMTP_PASS",
    "SES_SECRET_ACCESS_KEY",
    "SMS_AUTH_TOKEN",
    "NOTIFY_WEBHOOK_SECRET",
];

/// The Go file's notification sections.
pub(super) struct GoNotify {
    pub(super) mail: MailSection,
    pub(super) sms: SmsSection,
    pub(super) notification: NotificationSection,
}

impl GoNotify {
    /// The file's values under the environment keys they stand for, with the file key.
    fn values(self) -> HashMap<&'static str, (&'static str, String)> {
        let GoNotify {
            mail,
            sms,
            notification,
        } = self;
        let smtp = mail.engines.smtp.into_iter().next().unwrap_or_default();
        let ses = mail.engines.ses.into_iter().next().unwrap_or_default();
        let emails = notification
            .admin_emails
            .map(|l| ("notification.adminEmails", l.items().join(",")))
            .or(mail.admin_email.map(|e| ("mail.adminEmail", e)));
        let from = smtp
            .from
            .map(|f| ("mail.engines.smtp.from", f))
            .or(ses.from.map(|f| ("mail.engines.ses.from", f)))
            .or(mail
                .default_from_email
                .map(|f| ("mail.defaultFromEmail", f)));
        let entries: Vec<(&'static str, Option<(&'static str, String)>)> = vec![
            (
                "SMTP_HOST",
                smtp.host.map(|v| ("mail.engines.smtp.host", v)),
            ),
            (
                "SMTP_PORT",
                smtp.port.map(|v| ("mail.engines.smtp.port", v.to_string())),
            ),
            (
                "SMTP_USER",
                smtp.user.map(|v| ("mail.engines.smtp.user", v)),
            ),
            (
                "SMTP_PASS",
                smtp.pass.map(|v| ("mail.engines.smtp.pass", v)),
            ),
            (
                "SES_REGION",
                ses.region.map(|v| ("mail.engines.ses.region", v)),
            ),
            (
                "SES_ENDPOINT",
                ses.endpoint.map(|v| ("mail.engines.ses.endpoint", v)),
            ),
            (
                "SES_ACCESS_KEY_ID",
                ses.access_key_id
                    .map(|v| ("mail.engines.ses.accessKeyId", v)),
            ),
            (
                "SES_SECRET_ACCESS_KEY",
                ses.secret_access_key
                    .map(|v| ("mail.engines.ses.secretAccessKey", v)),
            ),
            ("EMAIL_FROM", from),
            (
                "EMAIL_FROM_NAME",
                mail.default_from_name.map(|v| ("mail.defaultFromName", v)),
            ),
            (
                "EMAIL_REPLY_TO",
                mail.reply_to_email.map(|v| ("mail.replyToEmail", v)),
            ),
            ("ADMIN_EMAILS", emails),
            (
                "ADMIN_PHONES",
                notification
                    .admin_phones
                    .map(|l| ("notification.adminPhones", l.items().join(","))),
            ),
            (
                "SMS_ACCOUNT_SID",
                sms.account_sid.map(|v| ("sms.accountSID", v)),
            ),
            (
                "SMS_AUTH_TOKEN",
                sms.auth_token.map(|v| ("sms.authToken", v)),
            ),
            (
                "SMS_FROM_NUMBER",
                sms.from_number.map(|v| ("sms.fromNumber", v)),
            ),
            ("SMS_API_BASE", sms.api_base.map(|v| ("sms.apiBase", v))),
        ];
        entries
            .into_iter()
            .filter_map(|(k, v)| v.filter(|(_, v)| !v.trim().is_empty()).map(|v| (k, v)))
            .collect()
    }
}

pub(super) fn resolve(r: &mut Resolver<'_>, go: GoNotify) -> NotifySettings {
    let env = r.env;
    let file = go.values();
    let get = |k: &str| {
        env.get(k)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| file.get(k).map(|(_, v)| v.clone()))
    };
    let any = |keys: &[&str]| keys.iter().any(|k| get(k).is_some());
    let emails = get("ADMIN_EMAILS")
        .map(|v| split_csv(&v))
        .unwrap_or_default();
    let phones = get("ADMIN_PHONES")
        .map(|v| split_csv(&v))
        .unwrap_or_default();
    let mut problems: Vec<FieldProblem> = Vec::new();

    let smtp = any(&[
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASS",
        "SMTP_TLS",
    ])
    .then(|| {
        let defaults = SmtpConfig::default();
        let port = match get("SMTP_PORT") {
            None => defaults.port,
            Some(p) => p.trim().parse().unwrap_or_else(|_| {
                problems.push(FieldProblem {
                    key: "SMTP_PORT",
                    reason: "must be a TCP port from 1 to 65535".into(),
                });
                defaults.port
            }),
        };
        let tls = match get("SMTP_TLS").as_deref().map(str::trim) {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(_) => {
                problems.push(FieldProblem {
                    key: "SMTP_TLS",
                    reason: "allowed: starttls, tls, none".into(),
                });
                SmtpTls::StartTls
            }
        };
        let config = SmtpConfig {
            host: get("SMTP_HOST").unwrap_or_default(),
            port,
            username: get("SMTP_USER"),
            password: get("SMTP_PASS"),
            from: get("EMAIL_FROM").unwrap_or_default(),
            from_name: get("EMAIL_FROM_NAME"),
            reply_to: get("EMAIL_REPLY_TO"),
            tls,
            recipients: emails.clone(),
            ..defaults
        };
        problems.extend(config.problems());
        config
    });

    let ses = any(&[
        "SES_REGION",
        "SES_ENDPOINT",
        "SES_ACCESS_KEY_ID",
        "SES_SECRET_ACCESS_KEY",
    ])
    .then(|| {
        let config = SesConfig {
            region: get("SES_REGION"),
            endpoint: get("SES_ENDPOINT"),
            access_key_id: get("SES_ACCESS_KEY_ID"),
            secret_access_key: get("SES_SECRET_ACCESS_KEY"),
            from: get("EMAIL_FROM").unwrap_or_default(),
            from_name: get("EMAIL_FROM_NAME"),
            reply_to: get("EMAIL_REPLY_TO"),
            recipients: emails.clone(),
            ..SesConfig::default()
        };
        problems.extend(config.problems());
        config
    });

    let sms = any(&[
        "SMS_ACCOUNT_SID",
        "SMS_AUTH_TOKEN",
        "SMS_FROM_NUMBER",
        "SMS_API_BASE",
    ])
    .then(|| {
        let config = SmsConfig {
            account_sid: get("SMS_ACCOUNT_SID").unwrap_or_default(),
            auth_token: get("SMS_AUTH_TOKEN").unwrap_or_default(),
            from: get("SMS_FROM_NUMBER").unwrap_or_default(),
            api_base: get("SMS_API_BASE").unwrap_or_else(|| sms::DEFAULT_API_BASE.into()),
            recipients: phones.clone(),
            ..SmsConfig::default()
        };
        problems.extend(config.problems());
        config
    });

    let webhook = any(&["NOTIFY_WEBHOOK_URL", "NOTIFY_WEBHOOK_SECRET"]).then(|| {
        let config = WebhookConfig {
            url: get("NOTIFY_WEBHOOK_URL").unwrap_or_default(),
            secret: get("NOTIFY_WEBHOOK_SECRET"),
            ..WebhookConfig::default()
        };
        problems.extend(config.problems());
        config
    });

    if !emails.is_empty() && smtp.is_none() && ses.is_none() {
        problems.push(FieldProblem {
            key: "ADMIN_EMAILS",
            reason: "is set but no email channel is: set SMTP_HOST (SMTP) or SES_REGION (SES)"
                .into(),
        });
    }
    if !phones.is_empty() && sms.is_none() {
        problems.push(FieldProblem {
            key: "ADMIN_PHONES",
            reason:
                "is set but SMS is not: set SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM_NUMBER"
                    .into(),
        });
    }
    for p in problems {
        let raw = get(p.key).unwrap_or_else(|| "<unset>".into());
        let shown = if SECRET_KEYS.contains(&p.key) {
            mask(&raw)
        } else {
            raw
        };
        // Name the key the operator wrote: the file's when the environment did not set it.
        let key = match (env.get(p.key), file.get(p.key)) {
            (None, Some((file_key, _))) => *file_key,
            _ => p.key,
        };
        r.error(key, &shown, p.reason);
    }
    NotifySettings {
        smtp,
        ses,
        sms,
        webhook,
    }
}
