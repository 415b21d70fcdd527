//! The five indexes of the Go service's collection, with its index names: created at connect,
//! idempotently (an existing index with the same name and keys is left alone).

use mongodb::bson::{Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::document as f;
use crate::error::Error;

/// One index of the Go service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index name.
    pub name: &'static str,
    /// Fields and directions (1 ascending, -1 descending).
    pub keys: &'static [(&'static str, i32)],
    /// Unique and sparse (only the share token).
    pub unique_sparse: bool,
}

const fn index(
    name: &'static str,
    keys: &'static [(&'static str, i32)],
    unique_sparse: bool,
) -> IndexSpec {
    IndexSpec {
        name,
        keys,
        unique_sparse,
    }
}

/// The five indexes of the Go service, with its names.
pub const INDEXES: [IndexSpec; 5] = [
    index("idx_user_id", &[(f::USER, 1)], false),
    index("idx_start_time", &[(f::START, -1)], false),
    index("idx_admin_assisted", &[(f::ADMIN_ASSISTED, 1)], false),
    index(
        "idx_user_start_time",
        &[(f::USER, 1), (f::START, -1)],
        false,
    ),
    index("idx_share_token", &[(f::SHARE_TOKEN, 1)], true),
];

/// Creates the five indexes (a no-op for those that exist already).
pub(crate) async fn create(coll: &Collection<Document>) -> Result<(), Error> {
    for IndexSpec {
        name,
        keys,
        unique_sparse,
    } in INDEXES
    {
        let keys: Document = keys
            .iter()
            .map(|(k, d)| ((*k).to_owned(), Bson::Int32(*d)))
            .collect();
        let mut options = IndexOptions::builder().name(name.to_owned()).build();
        if unique_sparse {
            options.unique = Some(true);
            options.sparse = Some(true);
        }
        let model = IndexModel::builder().keys(keys).options(options).build();
        coll.create_index(model)
            .await
            .map_err(|source| Error::MongoIndex { name, source })?;
    }
    Ok(())
}
