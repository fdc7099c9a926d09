//! Multi-row writes. Each row a plan writes belongs to a [`Shape`] (a statement over
//! `r`, the rows); a row joins the last statement of its shape unless a row written
//! since touches something it touches ([`Key`]), so a plan of a thousand devices is a
//! handful of statements, and a statement that depends on an earlier one (tags on the
//! device inserted before them, the second change of one cid) still runs after it.
//! Where a statement costs no round trip (SQLite), each row is a statement of its own.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::value::{Stmt, Value};

/// The SQL type of a column of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Text,
    Int,
    Bool,
}

impl Ty {
    /// The PostgreSQL array type of a column.
    fn array(self) -> &'static str {
        match self {
            Ty::Text => "text[]",
            Ty::Int => "bigint[]",
            Ty::Bool => "boolean[]",
        }
    }
}

/// A statement that writes any number of rows: `body` reads them from `r`, whose
/// columns are `cols`; `row` writes one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The columns of `r`: name and type.
    pub cols: &'static [(&'static str, Ty)],
    /// The statement over `r`; `$1` is the app id when `app` is set, and `{cids}`
    /// stands for "in the cids of `r`" as a list, the `cid` column's array: `= ANY ($n)`
    /// makes an index condition, whatever join of `r` the planner picks.
    pub body: &'static str,
    /// The statement of one row: `$1` is the app id when `app` is set, the columns
    /// follow in order. Empty: `body` over an `r` of one row.
    pub row: &'static str,
    /// Whether the statements use `$1`, the app id.
    pub app: bool,
    /// Only the last row counts: a value set again and again (a counter), not a row
    /// per item.
    pub last_wins: bool,
}

impl Shape {
    pub const fn new(
        cols: &'static [(&'static str, Ty)],
        body: &'static str,
        row: &'static str,
    ) -> Self {
        Shape {
            cols,
            body,
            row,
            app: true,
            last_wins: false,
        }
    }

    /// A shape whose statements do not use the app id.
    pub const fn without_app(self) -> Self {
        Shape { app: false, ..self }
    }

    /// A shape of which only the last row counts.
    pub const fn last_wins(self) -> Self {
        Shape {
            last_wins: true,
            ..self
        }
    }

    /// `body` with `{cids}` spelled out; `$first` is the first column's parameter.
    fn body(&self, first: usize, arrays: bool) -> Cow<'static, str> {
        if !self.body.contains("{cids}") {
            return Cow::Borrowed(self.body);
        }
        let list = match self.cols.iter().position(|(n, _)| *n == "cid") {
            Some(at) if arrays => format!("= ANY (${}::text[])", first + at),
            _ => "IN (SELECT r.cid FROM r)".to_owned(),
        };
        Cow::Owned(self.body.replace("{cids}", &list))
    }
}

/// How a statement receives many values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// One array parameter per column (PostgreSQL: `UNNEST`, `= ANY`): one statement,
    /// and one statement text, per shape whatever the number of rows, with a
    /// parameter per column, far below any limit.
    Arrays,
    /// One statement per row, and `IN` lists of a few fixed lengths for loads (SQLite,
    /// where a statement is a function call, not a round trip: a thousand one-row
    /// inserts of devices took less time than the same rows in `VALUES` lists).
    Rows,
}

/// What a row reads or writes, for ordering: rows whose keys conflict keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Space {
    /// An app's row (its existence).
    App,
    /// An app's next ordinal.
    NextOrd,
    /// An app's bind_dt channels.
    DtTypes,
    /// The engine's uid counter.
    UidSeq,
    /// A device's row, by cid.
    Device,
    /// A device's tags, by cid; the item is the tag.
    Tag,
    /// A device's login days, by cid; the item is the day.
    LoginDay,
    /// A user's row, by uid.
    User,
    /// Identity values of the app; the item is name and value.
    Identity,
    /// A user's contacts, by uid; the item is the kind.
    Contact,
    /// A user's UMS bindings, by uid; the item is field, bind id and value.
    Binding,
    /// A UMS channel, by key.
    Channel,
    /// A UMS sender, by code.
    Sender,
    /// A UMS grant, by channel key; the item is the sender code.
    Grant,
    /// A custom identity name.
    IdentityName,
    /// A credential, by key.
    Credential,
    /// Copy a device opened, by cid.
    Open,
}

/// One thing a row touches: a subject of a space, or one item of it.
#[derive(Debug, Clone)]
pub(crate) struct Key<'a> {
    write: bool,
    space: Space,
    subject: Cow<'a, str>,
    /// `None`: the whole subject (every item of it).
    item: Option<Cow<'a, str>>,
}

impl<'a> Key<'a> {
    /// Writes all of `subject` in `space`.
    pub fn write(space: Space, subject: impl Into<Cow<'a, str>>) -> Self {
        Key {
            write: true,
            space,
            subject: subject.into(),
            item: None,
        }
    }

    /// Reads `subject` in `space`.
    pub fn read(space: Space, subject: impl Into<Cow<'a, str>>) -> Self {
        Key {
            write: false,
            ..Key::write(space, subject)
        }
    }

    /// Only `item` of the subject.
    pub fn item(self, item: impl Into<Cow<'a, str>>) -> Self {
        Key {
            item: Some(item.into()),
            ..self
        }
    }
}

/// The last groups that read and wrote something.
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    read: Option<usize>,
    write: Option<usize>,
}

impl Marks {
    /// The last group a `write` (or read) must follow.
    fn bound(&self, write: bool) -> Option<usize> {
        if write {
            self.read.max(self.write)
        } else {
            self.write
        }
    }

    fn mark(&mut self, write: bool, group: usize) {
        let m = if write {
            &mut self.write
        } else {
            &mut self.read
        };
        *m = (*m).max(Some(group));
    }
}

/// The marks of one subject.
#[derive(Debug, Default)]
struct Subject<'a> {
    /// Any key of the subject.
    all: Marks,
    /// Keys on the whole subject.
    whole: Marks,
    /// Keys on one item.
    items: HashMap<Cow<'a, str>, Marks>,
}

#[derive(Debug)]
struct Group {
    shape: Shape,
    rows: Vec<Vec<Value>>,
}

/// The rows of a plan, grouped into statements.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    groups: Vec<Group>,
    /// The last group of each shape, by body (a plan has a handful of shapes).
    last: Vec<(&'static str, usize)>,
    subjects: HashMap<(Space, Cow<'a, str>), Subject<'a>>,
}

impl<'a> Batch<'a> {
    /// The last group a row with `key` must follow.
    fn bound(&self, key: &Key<'a>) -> Option<usize> {
        let s = self.subjects.get(&(key.space, key.subject.clone()))?;
        match &key.item {
            None => s.all.bound(key.write),
            Some(i) => s
                .whole
                .bound(key.write)
                .max(s.items.get(i).and_then(|m| m.bound(key.write))),
        }
    }

    fn mark(&mut self, key: Key<'a>, group: usize) {
        let s = self.subjects.entry((key.space, key.subject)).or_default();
        s.all.mark(key.write, group);
        match key.item {
            None => s.whole.mark(key.write, group),
            Some(i) => s.items.entry(i).or_default().mark(key.write, group),
        }
    }

    /// Adds a row of `shape` touching `keys`.
    pub fn push<const N: usize>(&mut self, shape: Shape, row: Vec<Value>, keys: [Key<'a>; N]) {
        debug_assert_eq!(row.len(), shape.cols.len(), "{}", shape.body);
        let bound = keys.iter().filter_map(|k| self.bound(k)).max();
        // Only a row of a last-wins shape may meet its own kind in its group: it
        // replaces the row it conflicts with.
        let fits = |g: usize| match bound {
            None => true,
            Some(b) => g > b || (shape.last_wins && g == b),
        };
        // One text is most often one literal: compare addresses before bytes.
        let last = self
            .last
            .iter_mut()
            .find(|(b, _)| std::ptr::eq(*b, shape.body) || *b == shape.body);
        let group = match last {
            Some((_, g)) if fits(*g) => *g,
            found => {
                self.groups.push(Group {
                    shape,
                    rows: Vec::new(),
                });
                let g = self.groups.len() - 1;
                match found {
                    Some((_, at)) => *at = g,
                    None => self.last.push((shape.body, g)),
                }
                g
            }
        };
        let rows = &mut self.groups[group].rows;
        if shape.last_wins {
            rows.clear();
        }
        rows.push(row);
        for k in keys {
            self.mark(k, group);
        }
    }

    /// The statements, in order; `app` is `$1` where a shape uses it.
    pub fn statements(self, app: &Value, lists: Lists) -> Vec<Stmt> {
        let mut out = Vec::with_capacity(self.groups.len());
        for g in self.groups {
            let first = if g.shape.app { 2 } else { 1 };
            let width = g.shape.cols.len();
            let names = g
                .shape
                .cols
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            let head = || {
                let mut params = Vec::with_capacity(first + width);
                if g.shape.app {
                    params.push(app.clone());
                }
                params
            };
            match lists {
                Lists::Arrays => {
                    let arrays = (0..width)
                        .map(|i| format!("${}::{}", first + i, g.shape.cols[i].1.array()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut columns: Vec<Vec<Value>> = (0..width)
                        .map(|_| Vec::with_capacity(g.rows.len()))
                        .collect();
                    for row in g.rows {
                        for (c, v) in columns.iter_mut().zip(row) {
                            c.push(v);
                        }
                    }
                    let mut params = head();
                    params.extend(columns.into_iter().map(Value::Array));
                    let body = g.shape.body(first, true);
                    out.push(Stmt::built(
                        format!("WITH r ({names}) AS (SELECT * FROM UNNEST({arrays})) {body}"),
                        params,
                    ));
                }
                Lists::Rows => {
                    let one = crate::engine::in_list(first, width);
                    for row in g.rows {
                        let mut params = head();
                        params.extend(row);
                        out.push(if g.shape.row.is_empty() {
                            let body = g.shape.body(first, false);
                            let sql = format!("WITH r ({names}) AS (VALUES ({one})) {body}");
                            Stmt::built(sql, params)
                        } else {
                            Stmt::new(g.shape.row, params)
                        });
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, Key, Lists, Shape, Space, Ty};
    use crate::value::Value;

    const SHAPE: Shape = Shape::new(
        &[("cid", Ty::Text), ("tag", Ty::Text), ("n", Ty::Int)],
        "INSERT INTO t (app, cid, tag, n) SELECT $1, r.* FROM r",
        "INSERT INTO t (app, cid, tag, n) VALUES ($1, $2, $3, $4)",
    );

    const OTHER: Shape = Shape::new(
        &[("cid", Ty::Text)],
        "DELETE FROM t WHERE app = $1 AND cid {cids}",
        "",
    );

    #[test]
    fn a_shape_is_one_statement_of_arrays_or_a_statement_per_row() {
        let fill = || {
            let mut b = Batch::default();
            for i in 0..1_000i64 {
                let cid = format!("c{i}");
                let row = vec![cid.clone().into(), "t".into(), i.into()];
                b.push(SHAPE, row, [Key::write(Space::Tag, cid).item("t")]);
                b.push(
                    OTHER,
                    vec![format!("d{i}").into()],
                    [Key::write(Space::Device, format!("d{i}"))],
                );
            }
            b
        };
        let app = Value::from("app");
        let stmts = fill().statements(&app, Lists::Arrays);
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].params.len(), 4, "the app and an array per column");
        assert_eq!(
            stmts[0].params[3],
            Value::Array((0..1_000).map(Value::Int).collect())
        );
        assert_eq!(
            stmts[1].sql,
            "WITH r (cid) AS (SELECT * FROM UNNEST($2::text[])) \
             DELETE FROM t WHERE app = $1 AND cid = ANY ($2::text[])"
        );
        let stmts = fill().statements(&app, Lists::Rows);
        assert_eq!(stmts.len(), 2_000);
        assert_eq!(stmts[0].sql, SHAPE.row);
        assert_eq!(
            stmts[999].params,
            [app.clone(), "c999".into(), "t".into(), Value::Int(999)]
        );
        // Without a statement of one row, the body over one row.
        assert_eq!(
            stmts[1_000].sql,
            "WITH r (cid) AS (VALUES ($2)) DELETE FROM t WHERE app = $1 AND cid IN (SELECT r.cid FROM r)"
        );
    }

    #[test]
    fn rows_with_conflicting_keys_keep_their_order() {
        let mut b = Batch::default();
        let row = |n: i64| vec!["c".into(), "t".into(), n.into()];
        // Reads of one subject go together; a write waits for them; a read after the
        // write waits for it.
        b.push(SHAPE, row(1), [Key::read(Space::Device, "c")]);
        b.push(OTHER, vec!["c".into()], [Key::write(Space::Device, "c")]);
        b.push(SHAPE, row(2), [Key::read(Space::Device, "c")]);
        b.push(SHAPE, row(3), [Key::read(Space::Device, "d")]);
        // One item of a subject is not another; the whole subject is every item.
        b.push(
            OTHER,
            vec!["d".into()],
            [Key::write(Space::Tag, "d").item("x")],
        );
        b.push(
            OTHER,
            vec!["e".into()],
            [Key::write(Space::Tag, "d").item("y")],
        );
        b.push(OTHER, vec!["f".into()], [Key::write(Space::Tag, "d")]);
        let stmts = b.statements(&"app".into(), Lists::Arrays);
        let sizes: Vec<(bool, usize)> = stmts
            .iter()
            .map(|s| {
                let n = match &s.params[s.params.len() - 1] {
                    Value::Array(a) => a.len(),
                    _ => 0,
                };
                (s.sql.contains("INSERT"), n)
            })
            .collect();
        assert_eq!(
            sizes,
            [(true, 1), (false, 3), (true, 2), (false, 1)],
            "{stmts:#?}"
        );
    }
}
