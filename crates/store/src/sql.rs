//! Audience selectors as SQL, shared by the SQL backends. The text uses only portable
//! SQL (`BETWEEN`, `IN (subquery)`, `COALESCE`, `TRUE`/`FALSE`) over `devices d` and
//! `device_tags`; every parameter is text and is handed to `bind`, which records it and
//! returns the backend's placeholder (`?` or `$n`).

use roster_core::audience::RegionLevel;
use roster_core::{AudienceQuery, Selector};

/// A boolean expression for `sel` that is never NULL.
fn selector(sel: &Selector, sql: &mut String, bind: &mut dyn FnMut(String) -> String) {
    match sel {
        Selector::All(true) => sql.push_str("TRUE"),
        Selector::All(false) => sql.push_str("FALSE"),
        Selector::And(xs) if xs.is_empty() => sql.push_str("TRUE"),
        Selector::Or(xs) if xs.is_empty() => sql.push_str("FALSE"),
        // Any of several tags: one subquery, not one per tag.
        Selector::Or(xs) if xs.iter().all(|x| matches!(x, Selector::Tag(_))) => {
            sql.push_str("d.id IN (SELECT device_id FROM device_tags WHERE tag IN (");
            for (i, x) in xs.iter().enumerate() {
                if let Selector::Tag(t) = x {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    let ph = bind(t.to_string());
                    sql.push_str(&ph);
                }
            }
            sql.push_str("))");
        }
        Selector::And(xs) | Selector::Or(xs) => {
            let op = if matches!(sel, Selector::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    sql.push_str(op);
                }
                selector(x, sql, bind);
            }
            sql.push(')');
        }
        // Crowd members are stored as a bitmap: the registry evaluates any selector that
        // names a crowd on bitmaps, so this arm is never reached.
        Selector::Crowd(_) => sql.push_str("FALSE"),
        // Property leaves compare in version order and over typed JSON, which portable
        // SQL does not express: the registry evaluates any selector with one on bitmaps
        // built from the stored devices; segments are expanded before. Never reached.
        Selector::Property(_) | Selector::Segment(_) => sql.push_str("FALSE"),
        Selector::Not(x) => {
            sql.push_str("NOT (");
            selector(x, sql, bind);
            sql.push(')');
        }
        Selector::PhoneType(p) => {
            let ph = bind(p.as_str().to_owned());
            sql.push_str(&format!("d.phone_type = {ph}"));
        }
        Selector::Region(r) => {
            let (lo, hi) = match r.level() {
                RegionLevel::Province => (
                    format!("{}000000", r.province()),
                    format!("{}999999", r.province()),
                ),
                RegionLevel::City => (format!("{}0000", r.city()), format!("{}9999", r.city())),
                RegionLevel::Exact => (r.as_str().to_owned(), r.as_str().to_owned()),
            };
            let (lo, hi) = (bind(lo), bind(hi));
            sql.push_str(&format!(
                "(d.region IS NOT NULL AND d.region BETWEEN {lo} AND {hi})"
            ));
        }
        Selector::Tag(t) => {
            let ph = bind(t.to_string());
            sql.push_str(&format!(
                "d.id IN (SELECT device_id FROM device_tags WHERE tag = {ph})"
            ));
        }
        Selector::Brand(b) if b == "unknown" => {
            sql.push_str("(d.brand IS NULL OR d.brand = 'unknown')");
        }
        Selector::Brand(b) => {
            let ph = bind(b.clone());
            sql.push_str(&format!("COALESCE(d.brand = {ph}, FALSE)"));
        }
        Selector::Alias(a) => {
            let ph = bind(a.to_string());
            sql.push_str(&format!("COALESCE(d.alias = {ph}, FALSE)"));
        }
        Selector::Cid(cids) if cids.is_empty() => sql.push_str("FALSE"),
        Selector::Cid(cids) => {
            sql.push_str("d.cid IN (");
            for (i, c) in cids.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let ph = bind(c.to_string());
                sql.push_str(&ph);
            }
            sql.push(')');
        }
    }
}

/// The conditions of a whole audience query, to follow `WHERE d.app_id = … `: starts
/// with ` AND `.
pub fn audience_conditions(q: &AudienceQuery, bind: &mut dyn FnMut(String) -> String) -> String {
    let mut sql = String::from(" AND ");
    selector(&q.selector, &mut sql, bind);
    if q.exclude_blacklisted {
        sql.push_str(" AND NOT d.blacklisted");
    }
    if q.exclude_notification_off {
        sql.push_str(" AND d.notification_switch");
    }
    sql
}
