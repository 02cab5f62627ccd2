//! Logs and traces for every binary of the project, apart from the identity crate.
//!
//! - [`aws_errors`]: how a failed AWS call is logged (code and Display chain, never the raw
//!   response).
//! - [`logging`]: the JSON logs of the Lambda functions and the agent, with the wire-level
//!   targets of the HTTP and SDK stacks capped (they print bodies, tokens and signatures).
//! - [`traces`] (feature `otlp`, the agent only): OpenTelemetry spans that carry the tenant's
//!   baggage (`session.id`, `tier`, `clinic_id`, `actor_id`) as attributes, exported over OTLP
//!   (HTTP/protobuf), SigV4-signed when the endpoint is AWS X-Ray's.

pub mod aws_errors;
pub mod logging;
#[cfg(feature = "otlp")]
pub mod traces;
