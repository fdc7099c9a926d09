//! Rate limits and quotas, declared once. The limiter that enforces them arrives with
//! the quota issue; dialects already ask [`Quota::check`] before every limited action,
//! so enforcing them is a change to the implementation only.

use crate::error::Error;
use crate::ids::{AppId, Cid};

/// An action the vendor documents rate-limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// Getui `POST /auth` (over: 10003).
    GetuiAuth,
    /// Any Getui call, per minute (over: 10005).
    GetuiCall,
    /// Tag overwrite of one cid: once a day (over: 30011).
    TagOverwrite(Cid),
    /// Tag batch bind/unbind: 100 per minute and 10,000 per day, shared (over: 30012 / 30011).
    TagBatch,
    /// `bind_dt`: 1,000 per minute, global.
    BindDt,
    /// Growth `user/register`: 100 per second.
    GrowthRegister,
    /// EngageLab `user/profile`: 1,000 per minute per project.
    EngagelabProfile,
}

impl LimitedAction {
    /// The documented limits as (calls, window in seconds) pairs.
    pub fn limits(&self) -> &'static [(u32, u32)] {
        match self {
            LimitedAction::GetuiAuth => &[],
            LimitedAction::GetuiCall => &[],
            LimitedAction::TagOverwrite(_) => &[(1, 86_400)],
            LimitedAction::TagBatch => &[(100, 60), (10_000, 86_400)],
            LimitedAction::BindDt => &[(1_000, 60)],
            LimitedAction::GrowthRegister => &[(100, 1)],
            LimitedAction::EngagelabProfile => &[(1_000, 60)],
        }
    }
}

/// Decides whether a limited action may proceed.
pub trait Quota: Send + Sync {
    /// `Ok` to proceed, [`Error::RateLimited`] when over.
    fn check(&self, app: &AppId, action: &LimitedAction) -> Result<(), Error>;
}

/// Lets everything through; the default until the quota issue lands.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unlimited;

impl Quota for Unlimited {
    fn check(&self, _app: &AppId, _action: &LimitedAction) -> Result<(), Error> {
        Ok(())
    }
}
