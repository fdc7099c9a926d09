//! Deleting one device or one user by the native API.

use super::users::{bind, detach};
use super::{Binding, Mutation, Needs, Planner, Rule, State, Want};
use crate::error::Error;
use crate::ids::Cid;
use crate::ums::UmsField;
use crate::user::{Uid, REGISTRATION_ID};

/// Deletes a device: its row, tags, alias and login days go (one
/// [`Mutation::DeviceDeleted`]), and it leaves the user that holds it as a registration
/// id, with that user's UMS `app` bindings of the cid. Unknown cid:
/// [`Error::UnknownTarget`]. The ordinal is never given again.
#[derive(Debug, Clone)]
pub struct DeleteDevice {
    /// The device.
    pub cid: Cid,
}

impl Rule for DeleteDevice {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        let mut w = Want::new(state);
        w.devices([&self.cid])
            .identity(REGISTRATION_ID, self.cid.as_str());
        let key = (REGISTRATION_ID.to_owned(), self.cid.as_str().to_owned());
        if let Some(Some(uid)) = state.identities.get(&key) {
            w.users([*uid]);
        }
        w.done()
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let stored = plan.known_device(&self.cid)?.clone();
        let cid = self.cid.as_str();
        if let Some(uid) = plan.holder(REGISTRATION_ID, cid)? {
            // The holder's `app` bindings of this cid go the way UMS unbinds them.
            let bound: Vec<String> = plan
                .user(uid)?
                .bindings
                .iter()
                .filter(|(f, _, v)| f == UmsField::App.as_str() && v == cid)
                .map(|(_, b, _)| b.clone())
                .collect();
            for bind_id in bound {
                let b = Binding {
                    uid,
                    field: UmsField::App,
                    bind_id,
                    value: cid.to_owned(),
                };
                bind(plan, b, false)?;
            }
            detach(plan, REGISTRATION_ID, cid, uid)?;
        }
        plan.emit(Mutation::DeviceDeleted {
            ordinal: stored.ordinal,
            device: Box::new(stored.device),
        });
        Ok(())
    }
}

/// Deletes one user by uid with everything bound to it (identities, contacts, UMS
/// bindings), as UMS `user/delete` does by userid; whether it existed.
#[derive(Debug, Clone)]
pub struct DeleteUser {
    /// The user.
    pub uid: Uid,
}

impl Rule for DeleteUser {
    type Outcome = bool;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.users([self.uid]);
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<bool, Error> {
        let exists = matches!(plan.state().users.get(&self.uid), Some(Some(_)));
        if exists {
            plan.emit(Mutation::UserDeleted { uid: self.uid });
        }
        Ok(exists)
    }
}
