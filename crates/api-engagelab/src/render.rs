//! One user's profile under EngageLab's null-value policy: a key that does not exist is
//! left out; a key that exists with an empty or null value is returned as it is.

use roster_core::time::getui_datetime;
use roster_core::user::{IdentityName, User};
use roster_core::Device;
use serde_json::{json, Map, Value};

/// Which keys of each group were asked for (`None`: all).
pub(crate) struct Pick {
    pub identities: Option<Vec<String>>,
    pub properties: Option<Vec<String>>,
    pub devices: Option<Vec<String>>,
    pub contacts: Option<Vec<String>>,
}

fn wanted(pick: &Option<Vec<String>>, key: &str) -> bool {
    pick.as_ref()
        .is_none_or(|keys| keys.iter().any(|k| k == key))
}

/// A device's properties as EngageLab names them (`el_` for roster's own fields).
fn device_map(d: &Device) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    };
    put("el_platform", Some(d.phone_type.as_str().into()));
    put("el_brand", d.brand.clone().map(Value::from));
    put("el_model", d.phone_model.clone().map(Value::from));
    put("el_app_version", d.app_version.clone().map(Value::from));
    put("el_os", d.os.clone().map(Value::from));
    put("el_package_name", d.package_name.clone().map(Value::from));
    put("el_region", d.region.clone().map(Value::from));
    put("el_notification_switch", Some(d.notification_switch.into()));
    put("el_create_time", Some(getui_datetime(d.create_time).into()));
    for (k, v) in &d.properties {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

pub(crate) fn render(
    user: &User,
    names: &[IdentityName],
    devices: &[Device],
    pick: &Pick,
) -> Value {
    let mut identities = Map::new();
    for n in names {
        let values = user.identity(&n.name);
        if values.is_empty() || !wanted(&pick.identities, &n.name) {
            continue;
        }
        let v = if n.unique {
            Value::from(values[0])
        } else {
            Value::from(values)
        };
        identities.insert(n.name.clone(), v);
    }
    let properties: Map<String, Value> = user
        .properties
        .iter()
        .filter(|(k, _)| wanted(&pick.properties, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut devs: Vec<&Device> = devices.iter().collect();
    devs.sort_by_key(|d| std::cmp::Reverse(d.last_login_time));
    let device_properties: Vec<Value> = devs
        .into_iter()
        .map(|d| {
            let mut m: Map<String, Value> = device_map(d)
                .into_iter()
                .filter(|(k, _)| wanted(&pick.devices, k))
                .collect();
            m.insert("el_registration_id".into(), d.cid.as_str().into());
            m.insert("el_last_active".into(), d.last_login_time.into());
            Value::Object(m)
        })
        .collect();
    let contacts: Map<String, Value> = user
        .contacts
        .iter()
        .filter(|(k, _)| wanted(&pick.contacts, k))
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    json!({
        "euid": user.uid,
        "user_identities": identities,
        "user_properties": properties,
        "device_properties": device_properties,
        "contacts": contacts,
        "error_code": 0,
    })
}
