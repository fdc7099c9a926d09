//! roster's domain core: id newtypes that validate on construction, the device and
//! app model, limits the vendor documents state, and the neutral [`Error`] every
//! dialect maps to its own wire codes. No HTTP, no SQL.

pub mod app;
pub mod audience;
pub mod bulk;
pub mod change;
pub mod crowd;
pub mod device;
pub mod error;
pub mod ids;
pub mod limits;
pub mod property;
pub mod quota;
pub mod rules;
pub mod segment;
pub mod time;
pub mod ums;
pub mod user;

pub use app::{App, AppCredentials, CredentialKind, KeyDialect, KeySecret, NewApp};
pub use audience::{AudienceQuery, DeviceFacts, RegionCode, Selector};
pub use device::{BadgeOp, Device, DeviceEvent, DeviceKind, DeviceUpsert, DtType, PhoneType};
pub use error::{Error, ErrorCode, Result};
pub use ids::{Alias, AppId, Cid, IdentityValue, TagName, UserId};
