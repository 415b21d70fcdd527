//! SMS config checks and how per-phone failures combine (delivery is tested against a fake
//! Twilio in `tests/it/sms.rs`).

use super::*;

fn valid() -> SmsConfig {
    SmsConfig {
        account_sid: "AC123".into(),
        auth_token: "tok-secret".into(),
        from: "+15550001111".into(),
        recipients: vec!["+15550002222".into(), "+4915112345678".into()],
        ..SmsConfig::default()
    }
}

#[test]
fn a_valid_config_builds_and_defaults_to_twilio() {
    let config = valid();
    assert_eq!(config.api_base, "https://api.twilio.com");
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let notifier = SmsNotifier::new(config).expect("valid");
    assert_eq!(
        notifier.messages_url.as_str(),
        "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
    );
    assert_eq!(notifier.channel(), "sms");
}

#[test]
fn config_problems_name_their_keys() {
    let config = SmsConfig {
        account_sid: "AC/../x".into(),
        auth_token: String::new(),
        from: String::new(),
        api_base: "twilio".into(),
        recipients: vec!["5550002222".into(), "+1555000222a".into()],
        timeout_ms: 0,
    };
    let keys: Vec<&str> = config.problems().iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "SMS_ACCOUNT_SID",
            "SMS_AUTH_TOKEN",
            "SMS_FROM_NUMBER",
            "SMS_API_BASE",
            "ADMIN_PHONES",
            "ADMIN_PHONES",
            "timeout_ms"
        ]
    );
    let none = SmsConfig {
        recipients: Vec::new(),
        ..valid()
    };
    let err = none.validate().unwrap_err();
    assert!(
        err.to_string()
            .contains("ADMIN_PHONES lists no phone number"),
        "{err}"
    );
}

#[test]
fn e164_means_plus_and_seven_to_fifteen_digits() {
    for ok in ["+1555000", "+15550002222", "+123456789012345"] {
        assert!(is_e164(ok), "{ok}");
    }
    for bad in [
        "15550002222",
        "+0555000222",
        "+123456",
        "+1234567890123456",
        "+1 555 000",
    ] {
        assert!(!is_e164(bad), "{bad}");
    }
}

#[test]
fn debug_output_hides_the_token() {
    let text = format!("{:?}", valid());
    assert!(!text.contains("tok-secret"), "{text}");
    let notifier = SmsNotifier::new(valid()).expect("valid");
    assert!(!format!("{notifier:?}").contains("tok-secret"));
}

#[test]
fn failures_combine_into_the_most_retryable_kind_naming_each_phone() {
    let phones = vec!["+15550001234".to_owned(), "+15550005678".to_owned()];
    let err = combine(
        &phones,
        vec![
            (
                0,
                NotifyError::Rejected("HTTP 400 Bad Request: bad To".into()),
            ),
            (1, NotifyError::Unavailable("HTTP 503".into())),
        ],
    );
    let NotifyError::Unavailable(source) = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    let text = source.to_string();
    assert!(text.contains("phone 1 of 2 (…1234)"), "{text}");
    assert!(text.contains("phone 2 of 2 (…5678): HTTP 503"), "{text}");

    let rejected = combine(&phones, vec![(1, NotifyError::Rejected("bad".into()))]);
    assert!(matches!(rejected, NotifyError::Rejected(ref t) if t.contains("phone 2 of 2")));

    let config = combine(
        &phones,
        vec![
            (0, NotifyError::Rejected("bad".into())),
            (1, NotifyError::Config("credentials refused".into())),
        ],
    );
    assert!(matches!(config, NotifyError::Config(_)), "{config:?}");
}
