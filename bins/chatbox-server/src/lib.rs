//! The Chatbox server as a library: configuration (TOML + environment), the choice of concrete
//! backends, dev mode, signals and graceful shutdown. It is the only crate that names concrete
//! backends and reads the environment; host apps can embed it instead of the binary.
//!
//! Today it only reports what it is; the main-job issue wires the engine and the edge here.

/// The server's name and version, as printed at startup.
pub fn banner() -> String {
    format!("chatbox-server {}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn banner_names_the_version() {
        assert_eq!(
            super::banner(),
            format!("chatbox-server {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
