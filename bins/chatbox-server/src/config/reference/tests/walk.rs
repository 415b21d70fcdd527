//! A deserializer that fills every struct with every field it names, recording the dotted path
//! of each value that is not itself a struct or a list: the keys a file may hold.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde::de::value::Error;
use serde::de::{self, IntoDeserializer, Visitor};

/// What a walk found and what the next one must skip.
#[derive(Default)]
pub(super) struct State {
    /// Dotted paths of the values that are no struct or list.
    pub(super) leaves: RefCell<BTreeSet<String>>,
    /// Field names known to be aliases: listed, not fed (feeding two names of one field fails).
    pub(super) skip: RefCell<BTreeSet<String>>,
    /// The path of the last field name fed.
    pub(super) last_key: RefCell<String>,
}

/// The deserializer at one path.
pub(super) struct Walker<'a> {
    path: String,
    state: &'a State,
}

impl<'a> Walker<'a> {
    pub(super) fn root(state: &'a State) -> Self {
        Self {
            path: String::new(),
            state,
        }
    }

    fn leaf(&self) {
        self.state.leaves.borrow_mut().insert(self.path.clone());
    }
}

impl<'de> de::Deserializer<'de> for Walker<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_str("1")
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_bool(true)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_u64(1)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_u64(1)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_u64(1)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_i64(1)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let item = Walker {
            path: format!("{}[]", self.path),
            state: self.state,
        };
        visitor.visit_seq(One(Some(item)))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            parent: self,
            fields: fields.iter(),
            current: None,
        })
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// A list of one element.
struct One<'a>(Option<Walker<'a>>);

impl<'de> de::SeqAccess<'de> for One<'_> {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.take().map(|w| seed.deserialize(w)).transpose()
    }
}

/// A struct with every field set.
struct Fields<'a> {
    parent: Walker<'a>,
    fields: std::slice::Iter<'static, &'static str>,
    current: Option<String>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let state = self.parent.state;
        for field in self.fields.by_ref() {
            let path = if self.parent.path.is_empty() {
                (*field).to_owned()
            } else {
                format!("{}.{field}", self.parent.path)
            };
            if state.skip.borrow().contains(&path) {
                state.leaves.borrow_mut().insert(path);
                continue;
            }
            state.last_key.replace(path.clone());
            self.current = Some(path);
            return seed
                .deserialize(IntoDeserializer::<Error>::into_deserializer(*field))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let path = self.current.take().unwrap_or_default();
        seed.deserialize(Walker {
            path,
            state: self.parent.state,
        })
    }
}
