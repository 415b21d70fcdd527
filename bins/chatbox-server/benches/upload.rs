//! Upload benchmark: the real server binary (release) receiving one 100 MB file through
//! `POST P/upload`, into the local directory store (on /dev/shm) and into S3 (moto, when
//! `CHATBOX_TEST_S3_ENDPOINT` is set — `cargo xtask bench` starts it).
//!
//! Reported per backend: throughput (MB/s, wall clock), server CPU per MB (utime+stime from
//! `/proc/PID/stat`), and peak RSS above idle (`VmHWM` − `VmRSS` before). The baseline is the
//! same 100 MB written to a bare loopback socket that discards it, in the same run. Nothing is
//! asserted about time.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq";
const SIZE: usize = 100_000_000;

/// Sends a `size`-byte text file; returns the status code.
async fn upload(addr: SocketAddr, token: &str, size: usize) -> u16 {
    chatbox_ws::testing::upload_streamed(addr, "/chatbox/upload", token, "big.txt", b"", size)
        .await
        .unwrap()
        .0
}

async fn write_filler(stream: &mut TcpStream, size: usize) {
    let filler = vec![b'a'; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(filler.len());
        stream.write_all(&filler[..n]).await.unwrap();
        left -= n;
    }
}

/// The same bytes to a loopback socket that discards them: the ceiling of this machine.
async fn baseline() -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while s.read(&mut buf).await.unwrap() > 0 {}
    });
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    write_filler(&mut stream, SIZE).await;
    drop(stream);
    sink.await.unwrap();
    started.elapsed()
}

fn token() -> String {
    chatbox_ws::testing::token(SECRET, "bench-user", &[])
}

async fn measure(name: &str, extra: &[(&str, String)], base: Duration) {
    let mut settings = vec![(
        "LLM_PROVIDER_1_ENDPOINT",
        "http://127.0.0.1:9/v1".to_owned(),
    )];
    settings.extend(extra.iter().cloned());
    let server = server::start(false, &settings).await;
    assert_eq!(
        upload(server.addr, &token(), 1024).await,
        200,
        "warm-up upload"
    );
    let idle_kb = server.process.rss_kb();
    let cpu = server.process.cpu();
    let started = Instant::now();
    let status = upload(server.addr, &token(), SIZE).await;
    let took = started.elapsed();
    let cpu_ms = server.process.cpu().saturating_sub(cpu).as_secs_f64() * 1e3;
    let peak_kb = server.process.peak_rss_kb();
    let mb = SIZE as f64 / 1e6;
    println!(
        "{name:>6}: status {status}, {:.0} MB/s ({:.2} s; baseline socket {:.0} MB/s, ratio {:.2}), server CPU {:.1} ms/MB, peak RSS +{:.1} MB over idle {:.1} MB",
        mb / took.as_secs_f64(),
        took.as_secs_f64(),
        mb / base.as_secs_f64(),
        base.as_secs_f64() / took.as_secs_f64(),
        cpu_ms / mb,
        (peak_kb.saturating_sub(idle_kb)) as f64 / 1024.0,
        idle_kb as f64 / 1024.0,
    );
}

#[tokio::main]
async fn main() {
    let base = baseline().await;
    println!("upload of {} MB in one multipart request", SIZE / 1_000_000);
    measure("local", &[], base).await;
    match std::env::var("CHATBOX_TEST_S3_ENDPOINT") {
        Ok(endpoint) => {
            let bucket = format!("bench-{}", std::process::id());
            let config = chatbox_store::blob::S3Config {
                endpoint: Some(endpoint.clone()),
                region: "us-east-1".into(),
                bucket: bucket.clone(),
                access_key_id: Some("testing".into()),
                secret_access_key: Some("testing".into()),
                path_style: true,
                ..chatbox_store::blob::S3Config::default()
            };
            chatbox_store::blob::S3BlobStore::new(config)
                .await
                .unwrap()
                .create_bucket_if_missing()
                .await
                .unwrap();
            let extra = [
                ("S3_ENDPOINT", endpoint),
                ("S3_BUCKET", bucket),
                ("S3_ACCESS_KEY_ID", "testing".to_owned()),
                ("S3_SECRET_ACCESS_KEY", "testing".to_owned()),
                ("S3_USE_PATH_STYLE", "true".to_owned()),
            ];
            measure("s3", &extra, base).await;
        }
        Err(_) => println!(
            "    s3: skipped (CHATBOX_TEST_S3_ENDPOINT unset; `cargo xtask bench` sets it)"
        ),
    }
}
