//! `smart_crowd/create`, `smart_crowd/task/list` and `smart_crowd/model/list`: copy-
//! targeting plans whose crowds a background job computes (see `roster-crowd`).

use axum::extract::State;
use axum::response::Response;
use roster_core::crowd::{self, BrandGroup, CrowdCopy, PlanSpec, Status};
use roster_core::Error;
use roster_store::crowds::{find_task, NewPlan, PlanRecord};
use serde_json::{json, Map, Value};

use crate::body::{array, field, object, string, Body};
use crate::error::{ok, GetuiError};
use crate::{GetuiState, GetuiToken};

/// A required integer field (a JSON number without a fraction).
fn integer(m: &Map<String, Value>, name: &str) -> Result<i64, Error> {
    match field(m, name) {
        None => Err(Error::empty(name)),
        Some(v) => v.as_i64().ok_or_else(|| Error::invalid(name)),
    }
}

/// The create body as a validated plan; every error names its field.
fn plan_spec(body: &Map<String, Value>) -> Result<PlanSpec, Error> {
    let name = string(body, "name")?;
    let mut tasks = Vec::new();
    for (i, t) in array(body, "tasks", crowd::TASKS_MAX)?.iter().enumerate() {
        let t = object(t, "tasks")?;
        let text = |k: &str| match field(t, k) {
            None => Err(Error::empty(format!("tasks[{i}].{k}"))),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(Error::TypeError(format!("tasks[{i}].{k}"))),
        };
        tasks.push(CrowdCopy::new(i, text("topic")?, text("content")?)?);
    }
    let brands = match field(body, "brand_list") {
        None => return Err(Error::empty("brand_list")),
        Some(Value::Array(a)) => a
            .iter()
            .map(|b| b.as_str().and_then(BrandGroup::parse))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::invalid("brand_list"))?,
        Some(_) => return Err(Error::TypeError("brand_list".into())),
    };
    let overlap = match field(body, "is_overlap") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid("is_overlap")),
    };
    PlanSpec::new(
        name,
        tasks,
        brands,
        integer(body, "package_num")?,
        integer(body, "active_range")?,
        integer(body, "active_type")?,
        overlap,
    )
}

/// Creates a plan: one sub-task (and, in the background, one crowd) per copy.
pub(crate) async fn create(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let spec = plan_spec(&body)?;
    let plan = NewPlan {
        plan_id: crowd::new_id(),
        task_ids: spec.tasks.iter().map(|_| crowd::new_id()).collect(),
        spec,
        create_time: state.now(),
    };
    state.store.create_crowd_plan(&auth.app, &plan).await?;
    Ok(ok(Some(json!({ "sub_task_ids": plan.task_ids }))))
}

/// The asked sub-tasks of the app, in the order asked; unknown ones are left out.
pub(crate) async fn task_list(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let mut ids: Vec<&str> = Vec::new();
    for v in array(&body, "sub_task_ids", crowd::LIST_IDS_MAX)? {
        let id = v
            .as_str()
            .ok_or_else(|| Error::TypeError("sub_task_ids".into()))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let plans = state.store.crowd_plans(&auth.app).await?;
    let found = |id: &str| {
        find_task(&plans, id).map(|(p, t)| {
            json!({
                "name": p.spec.name,
                "sub_task_id": t.sub_task_id,
                "topic": t.copy.topic,
                "content": t.copy.content,
                "status": t.status.code(),
                "can_push": t.can_push(),
            })
        })
    };
    let data: Vec<Value> = ids.into_iter().filter_map(found).collect();
    Ok(ok(Some(Value::Array(data))))
}

fn plan_json(p: &PlanRecord) -> Value {
    let subs: Vec<Value> = p
        .tasks
        .iter()
        .map(|t| {
            json!({
                "sub_task_id": t.sub_task_id,
                "topic": t.copy.topic,
                "content": t.copy.content,
            })
        })
        .collect();
    json!({
        "name": p.spec.name,
        "parent_task": {
            "brand_list": p.spec.brand_list(),
            "active_range": p.spec.active_range,
            "active_type": p.spec.active_type.code(),
            "package_num": p.spec.package_num,
            "is_overlap": p.spec.overlap,
            "sub_task_list": subs,
        },
        "status": p.status().code(),
        "create_time": p.create_time,
    })
}

/// The app's most recent plans (at most 10, newest first) matching an optional name
/// substring and plan status.
pub(crate) async fn model_list(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let name = match field(&body, "name") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(Error::TypeError("name".into()).into()),
    };
    // The document types `status` Boolean, but its values are the numbers 0–5.
    let status = match field(&body, "status") {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(Status::from_code)
                .ok_or_else(|| Error::invalid("status"))?,
        ),
    };
    let plans = state.store.crowd_plans(&auth.app).await?;
    let data: Vec<Value> = plans
        .iter()
        .filter(|p| name.is_none_or(|n| p.spec.name.contains(n)))
        .filter(|p| status.is_none_or(|s| p.status() == s))
        .take(crowd::LIST_PLANS_MAX)
        .map(plan_json)
        .collect();
    Ok(ok(Some(Value::Array(data))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> Result<PlanSpec, Error> {
        plan_spec(v.as_object().expect("object"))
    }

    fn valid() -> Value {
        json!({
            "name": "文案圈人",
            "tasks": [{"topic": "标题1", "content": "内容1"}],
            "brand_list": ["xm", "hw"],
            "package_num": 1000,
            "active_range": 15,
            "active_type": 1
        })
    }

    fn with(key: &str, v: Value) -> Value {
        let mut b = valid();
        b[key] = v;
        b
    }

    fn without(key: &str) -> Value {
        let mut b = valid();
        b.as_object_mut().expect("object").remove(key);
        b
    }

    #[test]
    fn the_document_example_is_valid() {
        let s = spec(valid()).expect("valid");
        assert!(!s.overlap);
        assert_eq!(s.brand_list(), "xm,hw");
    }

    #[test]
    fn every_required_field_is_required() {
        for k in [
            "name",
            "tasks",
            "brand_list",
            "package_num",
            "active_range",
            "active_type",
        ] {
            assert_eq!(spec(without(k)), Err(Error::empty(k)), "{k}");
        }
        assert!(spec(without("is_overlap")).is_ok());
    }

    #[test]
    fn wrong_types_name_the_field() {
        assert_eq!(
            spec(with("package_num", json!("1000"))),
            Err(Error::invalid("package_num"))
        );
        assert_eq!(
            spec(with("package_num", json!(1000.5))),
            Err(Error::invalid("package_num"))
        );
        assert_eq!(
            spec(with("is_overlap", json!("true"))),
            Err(Error::invalid("is_overlap"))
        );
        assert_eq!(
            spec(with("brand_list", json!(["hw", "huawei"]))),
            Err(Error::invalid("brand_list"))
        );
        assert_eq!(
            spec(with("brand_list", json!([]))),
            Err(Error::empty("brand_list"))
        );
        assert_eq!(
            spec(with("tasks", json!([{"topic": "标题1"}]))),
            Err(Error::empty("tasks[0].content"))
        );
        assert_eq!(
            spec(with("tasks", json!([{"topic": 1, "content": "内容"}]))),
            Err(Error::TypeError("tasks[0].topic".into()))
        );
        assert_eq!(
            spec(with("tasks", json!(["x"]))),
            Err(Error::TypeError("tasks".into()))
        );
    }
}
