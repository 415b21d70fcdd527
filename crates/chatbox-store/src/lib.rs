//! Storage backends (to be built by the store issue): a MongoDB `Store` compatible with the Go
//! service's documents, the embedded SQLite `Store`, AES-256-GCM encryption of message content,
//! and blob stores, all checked by chatbox-core's Store conformance suite.
