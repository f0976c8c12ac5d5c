//! devconsole: a Developer Console for provisioning apps and their long-lived SCIM tokens.
//!
//! One crate, three faces:
//! - [`server`]: the console HTTP API, the OAuth2 token endpoint and the SCIM 2.0 API;
//! - [`tui`]: the terminal console, which talks to a server only through [`client`];
//! - [`cli`]: `serve`, the admin subcommands and the scriptable CLI, which also talks to a
//!   server only through [`client`].
//!
//! The shared core is small: [`wire`] (JSON types both sides agree on), [`store`]
//! (all SQL), [`tokens`] (signing, digests, verification) and [`clock`].

pub mod admins;
pub mod cli;
pub mod client;
pub mod clipboard;
pub mod clock;
pub mod config;
pub mod paths;
pub mod secret;
pub mod server;
pub mod store;
pub mod tokens;
pub mod tui;
pub mod validate;
pub mod wire;
