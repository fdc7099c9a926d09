//! The closed sets of names the native API reads and writes, as enums, so that the
//! OpenAPI document lists exactly the values the server accepts. Each converts to and
//! from its core type with an exhaustive `match` in both directions: a value added to
//! the core does not compile until it is added here too.

use roster_core::ums::SenderKind;
use roster_core::{DeviceEvent, DeviceKind, DtType, PhoneType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Operating system of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PhoneType)]
pub enum PhoneTypeName {
    /// Android.
    Android,
    /// iOS.
    Ios,
}

/// What kind of client a cid belongs to: `app` (the push SDK) or `mini_program` (a
/// WeChat mini-program user, bound by Getui `bind_dt/wx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DeviceKind)]
pub enum DeviceKindName {
    /// An app with the push SDK.
    App,
    /// A WeChat mini-program user.
    MiniProgram,
}

/// A device event: `online`, `offline`, or `login` (counts towards `login_freq`, sets
/// `last_login_time`, and brings the cid online).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The cid connected.
    Online,
    /// The cid disconnected.
    Offline,
    /// The app was opened.
    Login,
}

/// Whether a device is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// Connected.
    Online,
    /// Not connected.
    Offline,
}

/// A vendor channel Getui `bind_dt` binds tokens of (`wx` is always enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = DtType)]
pub enum DtTypeName {
    /// WeChat mini-program.
    Wx,
    /// Huawei.
    Hw,
    /// Huawei quick apps.
    Hwq,
    /// Honor.
    Ho,
    /// Xiaomi.
    Xm,
    /// OPPO.
    Op,
    /// OPPO overseas.
    Opg,
    /// VIVO.
    Vv,
    /// Meizu.
    Mz,
    /// Google FCM.
    Fcm,
    /// Smartisan.
    St,
    /// Sony.
    Sn,
    /// Apple.
    Ios,
}

/// A UMS sender's channel kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = SenderKind)]
pub enum SenderKindName {
    /// An app (JPush registration ids).
    App,
    /// WeChat official account.
    Wechatoa,
    /// WeChat mini-program.
    Wechatmp,
    /// Alipay life.
    Alipaylife,
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

/// Both directions of an exhaustive one-to-one mapping between a wire enum and its core
/// enum.
macro_rules! same_as_core {
    ($wire:ident <=> $core:ident { $($variant:ident),+ $(,)? }) => {
        impl From<$wire> for $core {
            fn from(v: $wire) -> Self {
                match v {
                    $($wire::$variant => $core::$variant,)+
                }
            }
        }

        impl From<$core> for $wire {
            fn from(v: $core) -> Self {
                match v {
                    $($core::$variant => $wire::$variant,)+
                }
            }
        }
    };
}

same_as_core!(PhoneTypeName <=> PhoneType { Android, Ios });
same_as_core!(DeviceKindName <=> DeviceKind { App, MiniProgram });
same_as_core!(EventType <=> DeviceEvent { Online, Offline, Login });
same_as_core!(DtTypeName <=> DtType { Wx, Hw, Hwq, Ho, Xm, Op, Opg, Vv, Mz, Fcm, St, Sn, Ios });
same_as_core!(SenderKindName <=> SenderKind { App, Wechatoa, Wechatmp, Alipaylife });

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
    fn wire_names_are_the_core_names() {
        for t in DtType::ALL {
            assert_eq!(name(DtTypeName::from(t)), t.as_str());
        }
        for p in [PhoneType::Android, PhoneType::Ios] {
            assert_eq!(name(PhoneTypeName::from(p)), p.as_str());
        }
        for k in [DeviceKind::App, DeviceKind::MiniProgram] {
            assert_eq!(name(DeviceKindName::from(k)), k.as_str());
        }
        for e in [
            DeviceEvent::Online,
            DeviceEvent::Offline,
            DeviceEvent::Login,
        ] {
            assert_eq!(name(EventType::from(e)), name(e));
        }
        for k in [
            SenderKind::App,
            SenderKind::Wechatoa,
            SenderKind::Wechatmp,
            SenderKind::Alipaylife,
        ] {
            assert_eq!(name(SenderKindName::from(k)), k.as_str());
        }
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
