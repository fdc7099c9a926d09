//! Driver-neutral statements and rows: the SQL backends bind [`Value`]s and hand rows
//! back as [`Value`]s, so what is written and how a row is read is decided once.

use std::borrow::Cow;

use crate::{StoreError, StoreResult};

/// One SQL value. Booleans are their own variant (PostgreSQL `BOOLEAN`; SQLite stores
/// them as integers and hands them back as [`Value::Int`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer (`BIGINT`).
    Int(i64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// An array of one type, bound as one parameter (PostgreSQL only: the rows of a
    /// multi-row statement, one array per column, or an `= ANY` list).
    Array(Vec<Value>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<roster_core::user::Uid> for Value {
    fn from(v: roster_core::user::Uid) -> Self {
        Value::Int(v.get())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A statement with `$1…$n` placeholders, bound by number (not necessarily in order
/// of appearance: the SQLite backend runs them as `?1…?n`), and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// SQL text.
    pub sql: Cow<'static, str>,
    /// Parameters, `$1` first.
    pub params: Vec<Value>,
}

impl Stmt {
    /// A statement with fixed text.
    pub fn new(sql: &'static str, params: Vec<Value>) -> Self {
        Stmt {
            sql: Cow::Borrowed(sql),
            params,
        }
    }

    /// A statement with built text.
    pub fn built(sql: String, params: Vec<Value>) -> Self {
        Stmt {
            sql: Cow::Owned(sql),
            params,
        }
    }
}

/// One result row.
pub type Row = Vec<Value>;

fn bad(what: &str) -> StoreError {
    StoreError::Backend(format!("unreadable {what} in a stored row"))
}

/// Typed access to the columns of a [`Row`].
pub trait RowExt {
    /// Column `i` as an integer.
    fn int(&self, i: usize) -> StoreResult<i64>;
    /// Column `i` as text.
    fn text(&self, i: usize) -> StoreResult<String>;
    /// Column `i` as text or NULL.
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>>;
    /// Column `i` as an integer or NULL.
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    /// Column `i` as a boolean (or an integer 0/1).
    fn flag(&self, i: usize) -> StoreResult<bool>;
}

impl RowExt for [Value] {
    fn int(&self, i: usize) -> StoreResult<i64> {
        match self.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            _ => Err(bad("integer")),
        }
    }

    fn text(&self, i: usize) -> StoreResult<String> {
        match self.get(i) {
            Some(Value::Text(v)) => Ok(v.clone()),
            _ => Err(bad("text")),
        }
    }

    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.get(i) {
            Some(Value::Text(v)) => Ok(Some(v.clone())),
            Some(Value::Null) => Ok(None),
            _ => Err(bad("text")),
        }
    }

    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        match self.get(i) {
            Some(Value::Int(v)) => Ok(Some(*v)),
            Some(Value::Null) => Ok(None),
            _ => Err(bad("integer")),
        }
    }

    fn flag(&self, i: usize) -> StoreResult<bool> {
        match self.get(i) {
            Some(Value::Bool(v)) => Ok(*v),
            Some(Value::Int(v)) => Ok(*v != 0),
            _ => Err(bad("boolean")),
        }
    }
}
