//! A local HTTP fake standing in for Twilio and for a webhook receiver: it checks each request
//! with a test-supplied predicate (basic auth, HMAC signature) and answers 401 when the check
//! fails, records every request, and replies as told — success, a status, a refusal for one
//! recipient, or never (a stalled server).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// How the fake answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `201 Created` with a small JSON body.
    Created,
    /// This status with this body.
    Status(u16, &'static str),
    /// 400 with a Twilio-style error for requests whose form field `To` is this phone, 201 for
    /// the others.
    RejectTo(String),
    /// Never answers (the request is recorded first).
    Stall,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path and query.
    pub uri: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// Whether the check passed.
    pub authorized: bool,
}

impl Recorded {
    /// A header as text (empty when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The body as `application/x-www-form-urlencoded` pairs, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        let query = String::from_utf8_lossy(&self.body);
        reqwest::Url::parse(&format!("http://form.invalid/?{query}"))
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// One form field (empty when absent).
    pub fn field(&self, name: &str) -> String {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}

type Check = dyn Fn(&HeaderMap, &[u8]) -> bool + Send + Sync;

struct Shared {
    reply: Reply,
    check: Box<Check>,
    seen: Mutex<Vec<Recorded>>,
}

/// A running fake on 127.0.0.1; it stops with the test's runtime.
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
}

impl Fake {
    /// Starts a fake answering `reply` to requests that pass `check`.
    pub async fn start(
        reply: Reply,
        check: impl Fn(&HeaderMap, &[u8]) -> bool + Send + Sync + 'static,
    ) -> Fake {
        let shared = Arc::new(Shared {
            reply,
            check: Box::new(check),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake { base, shared }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = (shared.check)(&headers, &body);
    let recorded = Recorded {
        uri: uri.to_string(),
        headers,
        body,
        authorized,
    };
    let to = recorded.field("To");
    shared.seen.lock().unwrap().push(recorded);
    if !authorized {
        let body = r#"{"code":20003,"message":"Authenticate","status":401}"#;
        return (StatusCode::UNAUTHORIZED, body).into_response();
    }
    match &shared.reply {
        Reply::Created => {
            (StatusCode::CREATED, r#"{"sid":"SM1","status":"queued"}"#).into_response()
        }
        Reply::Status(code, body) => (StatusCode::from_u16(*code).unwrap(), *body).into_response(),
        Reply::RejectTo(phone) if *phone == to => {
            let body = r#"{"code":21211,"message":"The 'To' number is not valid.","status":400}"#;
            (StatusCode::BAD_REQUEST, body).into_response()
        }
        Reply::RejectTo(_) => (StatusCode::CREATED, "{}").into_response(),
        Reply::Stall => std::future::pending().await,
    }
}
