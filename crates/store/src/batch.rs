//! Multi-row writes. Each row a plan writes belongs to a [`Shape`] (a statement over
//! `r`, the rows); a row joins the last statement of its shape unless a row written
//! since touches something it touches ([`Key`]), so a plan of a thousand devices is a
//! handful of statements, and a statement that depends on an earlier one (tags on the
//! device inserted before them, the second change of one cid) still runs after it.

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
/// columns are `cols`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The columns of `r`: name and type.
    pub cols: &'static [(&'static str, Ty)],
    /// The statement over `r`; `$1` is the app id when `app` is set, and `{cids}`
    /// stands for "in the cids of `r`" as a list: `= ANY ($n)` of the array of the
    /// `cid` column (PostgreSQL, where it makes an index condition, whatever join of `r`
    /// the planner picks) or `IN (SELECT r.cid FROM r)`.
    pub body: &'static str,
    /// Whether `body` uses `$1`, the app id.
    pub app: bool,
    /// Only the last row counts: a value set again and again (a counter), not a row
    /// per item.
    pub last_wins: bool,
}

impl Shape {
    pub const fn new(cols: &'static [(&'static str, Ty)], body: &'static str) -> Self {
        Shape {
            cols,
            body,
            app: true,
            last_wins: false,
        }
    }

    /// The body, `{cids}` spelled for `lists`; the columns' parameters start at `first`.
    fn body(&self, lists: Lists, first: usize) -> Cow<'static, str> {
        if !self.body.contains("{cids}") {
            return Cow::Borrowed(self.body);
        }
        let list = match lists {
            Lists::Arrays => {
                let at = self.cols.iter().position(|(n, _)| *n == "cid").unwrap_or(0);
                format!("= ANY (${}::text[])", first + at)
            }
            Lists::Values { .. } => "IN (SELECT r.cid FROM r)".to_owned(),
        };
        Cow::Owned(self.body.replace("{cids}", &list))
    }

    /// A shape whose body does not use the app id.
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
}

/// How a statement receives many values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// One array parameter per column (PostgreSQL: `UNNEST`, `= ANY`): one statement,
    /// and one statement text per shape, whatever the number of rows.
    Arrays,
    /// `VALUES` lists and `IN` lists of a few fixed lengths, so that statement caches
    /// see few texts, each statement binding at most `max_params` parameters.
    Values {
        /// The engine's limit on parameters per statement.
        max_params: usize,
    },
}

/// Row counts of one `VALUES` statement; a batch is split into these.
pub(crate) const VALUES_SIZES: [usize; 5] = [1, 4, 16, 64, 256];

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
    /// The last group of each shape, by body.
    last: HashMap<&'static str, usize>,
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
        let group = match self.last.get(shape.body) {
            Some(&g) if fits(g) => g,
            _ => {
                self.groups.push(Group {
                    shape,
                    rows: Vec::new(),
                });
                let g = self.groups.len() - 1;
                self.last.insert(shape.body, g);
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
            let body = g.shape.body(lists, first);
            let names = g
                .shape
                .cols
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ");
            let head = |params: &mut Vec<Value>| {
                if g.shape.app {
                    params.push(app.clone());
                }
            };
            match lists {
                Lists::Arrays => {
                    let arrays = (0..g.shape.cols.len())
                        .map(|i| format!("${}::{}", first + i, g.shape.cols[i].1.array()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut params = Vec::with_capacity(first + g.shape.cols.len());
                    head(&mut params);
                    let mut columns: Vec<Vec<Value>> = g
                        .shape
                        .cols
                        .iter()
                        .map(|_| Vec::with_capacity(g.rows.len()))
                        .collect();
                    for row in g.rows {
                        for (c, v) in columns.iter_mut().zip(row) {
                            c.push(v);
                        }
                    }
                    params.extend(columns.into_iter().map(Value::Array));
                    out.push(Stmt::built(
                        format!("WITH r ({names}) AS (SELECT * FROM UNNEST({arrays})) {body}"),
                        params,
                    ));
                }
                Lists::Values { max_params } => {
                    let width = g.shape.cols.len();
                    let most = (max_params + 1 - first) / width;
                    let mut rows = g.rows.into_iter();
                    loop {
                        let left = rows.len();
                        if left == 0 {
                            break;
                        }
                        let n = VALUES_SIZES
                            .iter()
                            .copied()
                            .filter(|s| *s <= left.min(most))
                            .max()
                            .unwrap_or(1);
                        let mut params = Vec::with_capacity(first - 1 + n * width);
                        head(&mut params);
                        let mut tuples = Vec::with_capacity(n);
                        for row in rows.by_ref().take(n) {
                            let at = params.len() + 1;
                            tuples.push(format!("({})", crate::engine::in_list(at, width)));
                            params.extend(row);
                        }
                        out.push(Stmt::built(
                            format!("WITH r ({names}) AS (VALUES {}) {body}", tuples.join(", ")),
                            params,
                        ));
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
    );

    #[test]
    fn values_statements_keep_under_the_parameter_limit() {
        let mut b = Batch::default();
        for i in 0..40_000i64 {
            let cid = format!("c{i}");
            let row = vec![cid.clone().into(), "t".into(), i.into()];
            b.push(SHAPE, row, [Key::write(Space::Tag, cid).item("t")]);
        }
        let stmts = b.statements(&"app".into(), Lists::Values { max_params: 1_000 });
        let mut n = 0;
        for s in &stmts {
            assert!(s.params.len() <= 1_000, "{}", s.params.len());
            assert_eq!(s.params[0], Value::from("app"));
            assert_eq!((s.params.len() - 1) % 3, 0);
            n += (s.params.len() - 1) / 3;
        }
        assert_eq!(n, 40_000);
        // 333 rows' worth of parameters at most: 256-row statements, and 64 rows.
        assert_eq!(stmts.len(), 40_000 / 256 + 1, "{}", stmts.len());
    }

    #[test]
    fn rows_with_conflicting_keys_keep_their_order() {
        let mut b = Batch::default();
        let row = |n: i64| vec!["c".into(), "t".into(), n.into()];
        let other = Shape::new(
            &[("cid", Ty::Text)],
            "DELETE FROM t WHERE cid IN (SELECT cid FROM r)",
        );
        // Reads of one subject go together; a write waits for them; a read after the
        // write waits for it.
        b.push(SHAPE, row(1), [Key::read(Space::Device, "c")]);
        b.push(other, vec!["c".into()], [Key::write(Space::Device, "c")]);
        b.push(SHAPE, row(2), [Key::read(Space::Device, "c")]);
        b.push(SHAPE, row(3), [Key::read(Space::Device, "d")]);
        // One item of a subject is not another; the whole subject is every item.
        b.push(
            other,
            vec!["d".into()],
            [Key::write(Space::Tag, "d").item("x")],
        );
        b.push(
            other,
            vec!["e".into()],
            [Key::write(Space::Tag, "d").item("y")],
        );
        b.push(other, vec!["f".into()], [Key::write(Space::Tag, "d")]);
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
