//! Authentication and policy for magnum-api: who the caller is (noauth identities today, Keystone
//! tokens in a later `keystone` module) and what oslo.policy-compatible rules let them do.
//!
//! Behaviour follows `spec/rest-api.md` §6: [`noauth_identity`] implements §6.2, [`Policy`] the
//! rule engine and the §6.4 default rule table, [`PolicyFile`] the reloadable
//! `[oslo_policy] policy_file`.

mod identity;
mod policy;

pub use identity::{Caller, NoauthDefaults, expand_implied_roles, noauth_identity};
pub use policy::{Credentials, Policy, PolicyError, PolicyFile, Target};
