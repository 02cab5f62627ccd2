/// Errors from talking to the local stand-ins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{var} is not set: start the local stand-ins (scripts/standins.sh start) or run scripts/test.sh, which does"
    )]
    NotConfigured { var: &'static str },

    #[error(
        "{var} must be an http://127.0.0.1 or http://localhost URL (the stand-ins never leave loopback), got something else"
    )]
    NotLoopback { var: &'static str },

    #[error("stand-in call {op} failed")]
    Call {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("stand-in call {op} returned no {what}")]
    MissingField {
        op: &'static str,
        what: &'static str,
    },

    #[error(
        "{var} is not set: the DynamoDB stand-in (dynalite) is needed; start it with scripts/standins.sh start"
    )]
    NoDynamo { var: &'static str },

    #[error("demo patient file: {0}")]
    Patients(#[from] serde_json::Error),

    #[error("demo tenant file: {0}")]
    Tenants(#[from] tenant_admin::AdminError),

    #[error("tier file: {0}")]
    Tiers(#[from] tenant_context::Error),

    #[error("emulation set-up: {0}")]
    Config(String),
}

impl Error {
    pub fn call<E>(op: &'static str) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| Error::Call {
            op,
            source: Box::new(e),
        }
    }
}

/// An error and every cause under it, one per line: the top of a chain alone ("stand-in call X
/// failed") hides what went wrong.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!("\n  caused by: {s}"));
        source = s.source();
    }
    text
}
