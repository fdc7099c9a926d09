//! Saved segments: a named selector of an app. A `{"segment": "name"}` leaf is replaced
//! by the segment's stored selector when a selector is evaluated ([`expand`]), so a
//! count always sees the segment as it is now. Cycles and over-deep nesting are
//! refused when a segment is saved ([`check`]) and, defensively, when expanded.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::audience::Selector;
use crate::error::Error;

/// Longest segment name, in bytes.
pub const NAME_MAX: usize = 64;
/// Deepest chain of segments naming segments (`a` → `b` → … ) a selector may expand.
pub const DEPTH_MAX: usize = 8;
/// Most segments one app may keep.
pub const PER_APP_MAX: usize = 1_000;

/// A segment name: 1–64 ASCII letters, digits, `_`, `-` or `.` (safe in a URL path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SegmentName(String);

impl SegmentName {
    /// Validates a name.
    pub fn parse(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::Empty("segment name".into()));
        }
        if name.len() > NAME_MAX {
            return Err(Error::SizeOverLimit("segment name".into()));
        }
        if !name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        {
            return Err(Error::Invalid("segment name".into()));
        }
        Ok(SegmentName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SegmentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SegmentName {
    type Error = Error;
    fn try_from(v: String) -> Result<Self, Error> {
        SegmentName::parse(v)
    }
}

impl From<SegmentName> for String {
    fn from(v: SegmentName) -> String {
        v.0
    }
}

/// Whether a selector names a segment anywhere.
pub fn names_segment(sel: &Selector) -> bool {
    match sel {
        Selector::Segment(_) => true,
        Selector::And(xs) | Selector::Or(xs) => xs.iter().any(names_segment),
        Selector::Not(x) => names_segment(x),
        _ => false,
    }
}

/// `sel` with every segment leaf replaced by its selector from `saved` (an app's
/// segments by name), recursively. A segment `saved` lacks is not found; a segment
/// reached again inside itself is a cycle; more than [`DEPTH_MAX`] nested segments is
/// over the limit.
pub fn expand(sel: &Selector, saved: &HashMap<String, Selector>) -> Result<Selector, Error> {
    expand_in(sel, saved, &mut Vec::new())
}

fn expand_in<'a>(
    sel: &'a Selector,
    saved: &'a HashMap<String, Selector>,
    path: &mut Vec<&'a str>,
) -> Result<Selector, Error> {
    let all = |xs: &'a [Selector], path: &mut Vec<&'a str>| -> Result<Vec<Selector>, Error> {
        xs.iter().map(|x| expand_in(x, saved, path)).collect()
    };
    Ok(match sel {
        Selector::And(xs) => Selector::And(all(xs, path)?),
        Selector::Or(xs) => Selector::Or(all(xs, path)?),
        Selector::Not(x) => Selector::Not(Box::new(expand_in(x, saved, path)?)),
        Selector::Segment(name) => {
            let name = name.as_str();
            if path.contains(&name) {
                let mut cycle = path.join(" → ");
                cycle.push_str(" → ");
                cycle.push_str(name);
                return Err(Error::Invalid(format!(
                    "selector: segments refer to each other in a cycle ({cycle}), which"
                )));
            }
            if path.len() >= DEPTH_MAX {
                return Err(Error::SizeOverLimit(format!(
                    "segment nesting (at most {DEPTH_MAX} deep)"
                )));
            }
            let inner = saved
                .get(name)
                .ok_or_else(|| Error::NotFound(format!("segment {name}")))?;
            path.push(name);
            let out = expand_in(inner, saved, path)?;
            path.pop();
            out
        }
        leaf => leaf.clone(),
    })
}

/// Whether `name` may be saved as `sel`, given the app's other segments (`saved`, which
/// may hold `name`'s previous selector: it is replaced): every segment it names must
/// exist, and no chain may lead back to `name` or nest deeper than [`DEPTH_MAX`].
pub fn check(
    name: &SegmentName,
    sel: &Selector,
    saved: &HashMap<String, Selector>,
) -> Result<(), Error> {
    let mut with = saved.clone();
    with.insert(name.as_str().to_owned(), sel.clone());
    expand(&Selector::Segment(name.clone()), &with).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TagName;

    fn seg(n: &str) -> Selector {
        Selector::Segment(SegmentName::parse(n).expect("name"))
    }

    fn tag(t: &str) -> Selector {
        Selector::Tag(TagName::parse(t).expect("tag"))
    }

    #[test]
    fn names() {
        assert!(SegmentName::parse("vip_2024-q1.beta").is_ok());
        assert!(SegmentName::parse("").is_err());
        assert!(SegmentName::parse("a b").is_err());
        assert!(SegmentName::parse("a/b").is_err());
        assert!(SegmentName::parse("x".repeat(65)).is_err());
        assert!(serde_json::from_str::<Selector>(r#"{"segment":"a/b"}"#).is_err());
    }

    #[test]
    fn expansion_and_cycles() {
        let mut saved = HashMap::new();
        saved.insert("a".to_owned(), Selector::And(vec![tag("x"), seg("b")]));
        saved.insert("b".to_owned(), tag("y"));
        assert_eq!(
            expand(&seg("a"), &saved).expect("expands"),
            Selector::And(vec![tag("x"), tag("y")])
        );
        let name = SegmentName::parse("b").expect("name");
        // b → a → b
        let e = check(&name, &seg("a"), &saved).expect_err("cycle");
        assert!(e.to_string().contains("b → a → b"), "{e}");
        // a → a
        let a = SegmentName::parse("a").expect("name");
        let e = check(&a, &Selector::Not(Box::new(seg("a"))), &saved).expect_err("self");
        assert!(e.to_string().contains("a → a"), "{e}");
        assert!(matches!(
            check(&a, &seg("nope"), &saved),
            Err(Error::NotFound(_))
        ));
        // A chain of DEPTH_MAX + 1.
        let mut deep = HashMap::new();
        for i in 0..DEPTH_MAX {
            deep.insert(format!("s{i}"), seg(&format!("s{}", i + 1)));
        }
        deep.insert(format!("s{DEPTH_MAX}"), tag("x"));
        assert!(matches!(
            expand(&seg("s0"), &deep),
            Err(Error::SizeOverLimit(_))
        ));
        assert!(expand(&seg("s1"), &deep).is_ok());
    }
}
