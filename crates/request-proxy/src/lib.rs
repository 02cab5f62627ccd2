//! API Gateway proxy to the tier's AgentCore Runtime. See `app.rs`.

pub mod app;
pub mod audit;
pub mod caller;
pub mod config;
pub mod deps;
pub mod error;
pub mod runtime;
pub mod usage;

pub use app::router;
pub use config::Config;
pub use deps::Deps;
pub use error::ProxyError;
