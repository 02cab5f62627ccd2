use std::error::Error as StdError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("tenant file, entry {index} ({clinic}): {reason}")]
    Tenant {
        index: usize,
        clinic: String,
        reason: String,
    },
    #[error("tenant file: {0}")]
    TenantFile(#[source] serde_json::Error),
    #[error("tier file: {0}")]
    Tiers(#[from] tenant_context::Error),
    #[error("stack outputs: {0}")]
    OutputsFile(#[source] serde_json::Error),
    #[error(
        "stack outputs: {0} is missing (pass the outputs of the deployed Tenantry stack: \
         aws cloudformation describe-stacks --stack-name <stack> --query 'Stacks[0].Outputs')"
    )]
    MissingOutput(String),
    #[error("{op} failed")]
    Aws {
        op: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error(
        "--test-users: this stack is a production stack (its users read patient data and must \
         set up MFA themselves); generated passwords are for a stack deployed with \
         scripts/deploy.sh --test-stack"
    )]
    NotATestStack,
    #[error("{0}")]
    Conflict(String),
    /// A step did part of its work; running the command again finishes it.
    #[error("{0}")]
    Incomplete(String),
    #[error(
        "set-budget: {0} (give --daily-tokens N, optionally --monthly-tokens M >= N, or --tier-default)"
    )]
    BadBudget(&'static str),
    #[error(transparent)]
    Registry(#[from] tenant_registry::RegistryError),
    #[error("cannot read {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl AdminError {
    pub(crate) fn aws<E: StdError + Send + Sync + 'static>(
        op: &'static str,
    ) -> impl FnOnce(E) -> Self {
        move |e| Self::Aws {
            op,
            source: Box::new(e),
        }
    }
}
