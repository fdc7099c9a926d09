//! Apps and their settings: bind_dt channels, UMS channels, senders and grants,
//! custom identity names.

use super::{Mutation, Needs, Planner, Rule, Secret, State};
use crate::error::Error;
use crate::ums::SenderKind;
use crate::user::IdentityName;
use crate::{DtType, NewApp};

/// Creates an app with its credentials, default UMS channel, APP sender and grant.
#[derive(Debug, Clone)]
pub struct CreateApp {
    /// The app.
    pub app: NewApp,
}

impl Rule for CreateApp {
    type Outcome = ();
    const APP_MUST_EXIST: bool = false;

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.app();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        if matches!(plan.state().app, Some(Some(_))) {
            return Err(Error::AlreadyExists("app".into()));
        }
        let c = &self.app.credentials;
        plan.secret(Secret::App(Box::new(c.clone())));
        plan.emit(Mutation::AppCreated {
            name: self.app.name.clone(),
            created_at: self.app.created_at,
        });
        plan.emit(Mutation::UmsChannelCreated {
            channel_key: c.ums.channel_key.clone(),
            code: c.ums.channel_code.clone(),
        });
        plan.emit(Mutation::UmsSenderCreated {
            code: c.ums.app_sender_code.clone(),
            kind: SenderKind::App,
        });
        plan.emit(Mutation::UmsSenderGranted {
            channel_key: c.ums.channel_key.clone(),
            sender_code: c.ums.app_sender_code.clone(),
        });
        Ok(())
    }
}

/// Replaces the set of bind_dt channels enabled beyond the defaults.
#[derive(Debug, Clone)]
pub struct SetDtTypes {
    /// The channels.
    pub types: Vec<DtType>,
}

impl Rule for SetDtTypes {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.app();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        if plan.app()?.enabled_dt_types != self.types {
            plan.emit(Mutation::DtTypesSet {
                types: self.types.clone(),
            });
        }
        Ok(())
    }
}

/// Adds a UMS channel whose key authenticates with `secret`.
#[derive(Clone)]
pub struct CreateUmsChannel {
    /// Channel key.
    pub key: String,
    /// Master secret.
    pub secret: String,
    /// Channel code, unique in the app.
    pub code: String,
    /// Now, ms: when the secret is issued.
    pub now: i64,
}

impl std::fmt::Debug for CreateUmsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUmsChannel")
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl Rule for CreateUmsChannel {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.ums();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        if plan.ums()?.channels.iter().any(|(_, c)| c == &self.code) {
            return Err(Error::AlreadyExists("channel_code".into()));
        }
        plan.secret(Secret::UmsChannel {
            channel_key: self.key.clone(),
            secret: self.secret.clone(),
            created_at: self.now,
        });
        plan.emit(Mutation::UmsChannelCreated {
            channel_key: self.key.clone(),
            code: self.code.clone(),
        });
        Ok(())
    }
}

/// Adds a UMS sender.
#[derive(Debug, Clone)]
pub struct CreateUmsSender {
    /// Sender code, unique in the app.
    pub code: String,
    /// Kind.
    pub kind: SenderKind,
}

impl Rule for CreateUmsSender {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.ums();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        if plan.ums()?.senders.iter().any(|(c, _)| c == &self.code) {
            return Err(Error::AlreadyExists("sender_code".into()));
        }
        plan.emit(Mutation::UmsSenderCreated {
            code: self.code.clone(),
            kind: self.kind,
        });
        Ok(())
    }
}

/// Lets a channel write a sender's bindings.
#[derive(Debug, Clone)]
pub struct GrantUmsSender {
    /// Channel key of the app.
    pub channel_key: String,
    /// Sender code of the app.
    pub sender_code: String,
}

impl Rule for GrantUmsSender {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.ums();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        let ums = plan.ums()?;
        if !ums.channels.iter().any(|(k, _)| k == &self.channel_key) {
            return Err(Error::NotFound("channel".into()));
        }
        if !ums.senders.iter().any(|(c, _)| c == &self.sender_code) {
            return Err(Error::NotFound("sender".into()));
        }
        let grant = (self.channel_key.clone(), self.sender_code.clone());
        if !ums.grants.contains(&grant) {
            plan.emit(Mutation::UmsSenderGranted {
                channel_key: grant.0,
                sender_code: grant.1,
            });
        }
        Ok(())
    }
}

/// Adds a custom identity name.
#[derive(Debug, Clone)]
pub struct CreateIdentityName {
    /// The name.
    pub name: IdentityName,
}

impl Rule for CreateIdentityName {
    type Outcome = ();

    fn needs(&self, state: &State) -> Needs {
        state.wants(|w| {
            w.identity_names();
        })
    }

    fn decide(&self, plan: &mut Planner<'_>) -> Result<(), Error> {
        if plan
            .identity_names()?
            .iter()
            .any(|n| n.name == self.name.name)
        {
            return Err(Error::AlreadyExists("identity name".into()));
        }
        plan.emit(Mutation::IdentityNameCreated {
            name: self.name.clone(),
        });
        Ok(())
    }
}
