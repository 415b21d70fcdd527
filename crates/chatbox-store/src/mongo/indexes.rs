//! The five indexes of the Go service's collection, with its index names: created at connect,
//! idempotently (an existing index with the same name and keys is left alone). An existing index
//! on the same keys under another name, or with other options (MongoDB errors 85 and 86), serves
//! the same queries: it is reported as a warning and left alone, never a reason not to start.

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
        match coll.create_index(model).await {
            Ok(_) => {}
            Err(source) if is_existing_equivalent(&source) => {
                tracing::warn!(index = name, error = %source, "an index on these keys exists under another name or with other options; keeping it");
            }
            Err(source) => return Err(Error::MongoIndex { name, source }),
        }
    }
    Ok(())
}

/// IndexOptionsConflict (85) and IndexKeySpecsConflict (86): an equivalent index exists.
fn is_existing_equivalent(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, mongodb::error::ErrorKind::Command(c) if c.code == 85 || c.code == 86)
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, from_document};
    use mongodb::error::{CommandError, Error, ErrorKind};

    use super::is_existing_equivalent;

    fn command(code: i32) -> Error {
        let c: CommandError =
            from_document(doc! { "code": code, "codeName": "X", "errmsg": "m" }).unwrap();
        Error::from(ErrorKind::Command(c))
    }

    #[test]
    fn an_equivalent_existing_index_is_not_an_error_but_others_are() {
        assert!(is_existing_equivalent(&command(85)));
        assert!(is_existing_equivalent(&command(86)));
        assert!(!is_existing_equivalent(&command(11000)));
        assert!(
            !is_existing_equivalent(&command(13)),
            "unauthorized stays fatal"
        );
    }
}
