//! `nodelay` sets `TCP_NODELAY` on every connection accepted through it, where a plain accept
//! leaves the operating system's default (off).

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};

use super::nodelay;

#[tokio::test]
async fn every_accepted_connection_has_nodelay_set() -> std::io::Result<()> {
    let mut listener = nodelay(TcpListener::bind("127.0.0.1:0").await?);
    let addr = Listener::local_addr(&listener)?;
    for _ in 0..2 {
        let client = TcpStream::connect(addr).await?;
        let (accepted, peer) = Listener::accept(&mut listener).await;
        assert_eq!(peer, client.local_addr()?, "the server side of this client");
        assert!(accepted.nodelay()?, "TCP_NODELAY on the accepted socket");
    }
    Ok(())
}

#[tokio::test]
async fn a_plain_accept_leaves_nodelay_off() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (accepted, peer) = listener.accept().await?;
    assert_eq!(peer, client.local_addr()?, "the server side of this client");
    assert!(
        !accepted.nodelay()?,
        "without `nodelay` the accepted socket keeps Nagle's algorithm on"
    );
    Ok(())
}
