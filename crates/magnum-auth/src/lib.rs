//! Authentication and policy for magnum-api: who the caller is (Keystone tokens or noauth
//! identities) and what oslo.policy-compatible rules let them do.
//!
//! Behaviour follows `spec/rest-api.md` §6: [`Keystone`] implements §6.1 (token validation with
//! a bounded cache), [`noauth_identity`] §6.2, [`Policy`] the
//! rule engine and the §6.4 default rule table, [`PolicyFile`] the reloadable
//! `[oslo_policy] policy_file`.

mod identity;
pub mod keystone;
mod policy;

pub use identity::{Caller, NoauthDefaults, expand_implied_roles, noauth_identity};
pub use keystone::{Keystone, KeystoneError, KeystoneOptions};
pub use policy::{Credentials, Policy, PolicyError, PolicyFile, Target};
