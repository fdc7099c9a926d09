//! The closed sets of names the native API reads and writes that have no core enum, so
//! that the OpenAPI document lists exactly the values the server accepts. Those with a
//! core enum (`PhoneType`, `DeviceKind`, `EventType`, `DtType`, `SenderKind`) are the
//! core types themselves, with their schema from roster-core's `openapi` feature.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether a device is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// Connected.
    Online,
    /// Not connected.
    Offline,
}

/// A contact kind EngageLab knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// E-mail address.
    Email,
    /// Mobile phone number.
    MobilePhone,
    /// Landline phone number.
    LandlinePhone,
    /// WhatsApp phone number.
    WhatsappPhone,
}

impl ContactKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::MobilePhone => "mobile_phone",
            ContactKind::LandlinePhone => "landline_phone",
            ContactKind::WhatsappPhone => "whatsapp_phone",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::user::CONTACT_KINDS;

    fn name(v: impl Serialize) -> String {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    #[test]
    fn contact_names_are_the_core_names() {
        let contacts = [
            ContactKind::Email,
            ContactKind::MobilePhone,
            ContactKind::LandlinePhone,
            ContactKind::WhatsappPhone,
        ];
        assert_eq!(contacts.map(ContactKind::as_str), CONTACT_KINDS);
        for c in contacts {
            assert_eq!(name(c), c.as_str());
        }
    }
}
