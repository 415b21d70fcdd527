//! Unit tests of the session update documents: which Go fields each write touches, and that
//! user text is never read as an operator.

use chatbox_core::UserId;
use chrono::TimeZone;

use super::*;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
}

fn set_keys(stage: &Document) -> Vec<&str> {
    let set = stage.get_document("$set").unwrap();
    set.keys().map(String::as_str).collect()
}

#[test]
fn append_reply_is_one_stage_setting_the_message_and_every_statistic() {
    let stages = append_reply(doc! { "content": "$msgs" }, at(), 7, 300);
    assert_eq!(stages.len(), 1, "one stage: one atomic write");
    assert_eq!(
        set_keys(&stages[0]),
        [
            f::MESSAGES,
            f::LAST_ACTIVITY,
            f::TOKENS,
            f::MAX_RESP,
            f::AVG_RESP,
            f::RESP_COUNT
        ]
    );
    let msgs = stages[0]
        .get_document("$set")
        .unwrap()
        .get_document(f::MESSAGES)
        .unwrap()
        .get_array("$concatArrays")
        .unwrap();
    let appended = msgs[1].as_array().unwrap()[0].as_document().unwrap();
    assert_eq!(
        appended,
        &doc! { "$literal": { "content": "$msgs" } },
        "the message document is taken literally"
    );
}

#[test]
fn append_message_pushes_and_moves_last_activity() {
    let u = append_message(doc! { "content": "x" }, at());
    assert_eq!(
        u,
        doc! {
            "$push": { f::MESSAGES: { "content": "x" } },
            "$set": { f::LAST_ACTIVITY: f::bson_time(at()) },
        }
    );
}

#[test]
fn an_empty_patch_is_no_update_and_reopen_unsets_the_end() {
    assert_eq!(patch(&SessionPatch::default()), None);
    let reopen = patch(&SessionPatch {
        reopen: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        reopen,
        vec![
            doc! { "$set": { f::DURATION: 0_i64 } },
            doc! { "$unset": [f::END] }
        ]
    );
    let admin = patch(&SessionPatch {
        assisting_admin: Some((UserId::parse("adm").unwrap(), "$where".into())),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        admin[0].get_document("$set").unwrap().get(f::ADMIN_NAME),
        Some(&Bson::Document(doc! { "$literal": "$where" }))
    );
}
