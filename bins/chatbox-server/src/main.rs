//! The `chatbox-server` binary: a thin wrapper around the `chatbox_server` library.

fn main() -> anyhow::Result<()> {
    let banner = chatbox_server::banner();
    anyhow::bail!("{banner}: the chat server is not wired yet (see the open main-job issue)")
}
