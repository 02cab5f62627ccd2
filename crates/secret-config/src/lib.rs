//! Where a deployment secret (a signing key) comes from: exactly one of two variables.
//!
//! - `<NAME>`: the value itself, for local runs and tests;
//! - `<NAME>_PARAMETER`: the name of an SSM SecureString holding it, read once at start-up
//!   (deployments: the secret stays out of the function's or runtime's configuration, where
//!   anyone allowed to describe the function could read it).
//!
//! Used by every binary that holds a key (tool-target's page-token key, the session key of
//! request-proxy and the agent runtime), so the rule and its error messages are the same.

/// The two variables naming a secret (or a deployment value kept in SSM).
#[derive(Debug, Clone, Copy)]
pub struct SecretVars {
    pub inline: &'static str,
    pub parameter: &'static str,
    /// The parameter must be a SecureString (keys); false for plain values such as ids.
    pub secure: bool,
    /// The process does not start without it. False: it starts without it and says so (a
    /// value a later deployment step may create). The template records this for each
    /// component, and the create-order check (scripts/conformance/create_order.py) holds
    /// every deployment step that creates a parameter before the components that read it.
    pub required: bool,
}

/// A secret's source, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Inline(String),
    /// An SSM parameter name (starting with `/`).
    Parameter(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {reason}")]
pub struct SecretError {
    pub var: &'static str,
    pub reason: String,
}

impl SecretVars {
    /// Which source is configured, if any; both or a malformed parameter name is an error.
    pub fn optional_source(
        &self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<SecretSource>, SecretError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        if set(self.inline).is_none() && set(self.parameter).is_none() {
            return Ok(None);
        }
        self.source(get).map(Some)
    }

    /// Which source is configured; both, neither or a malformed parameter name is an error.
    pub fn source(
        &self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<SecretSource, SecretError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        match (set(self.inline), set(self.parameter)) {
            (Some(value), None) => Ok(SecretSource::Inline(value)),
            (None, Some(name)) if name.starts_with('/') => Ok(SecretSource::Parameter(name)),
            (None, Some(_)) => Err(SecretError {
                var: self.parameter,
                reason: "must be an SSM parameter name starting with /".into(),
            }),
            (Some(_), Some(_)) => Err(SecretError {
                var: self.inline,
                reason: format!("set either it or {}, not both", self.parameter),
            }),
            (None, None) => Err(SecretError {
                var: self.inline,
                reason: format!("must be set (or {})", self.parameter),
            }),
        }
    }

    /// The secret's value, with an SSM client from the process's AWS configuration built only
    /// when the secret is a parameter (local runs need no AWS configuration at all).
    pub async fn load(&self, source: SecretSource) -> Result<String, SecretError> {
        let named = source.clone();
        self.load_if_present(source)
            .await?
            .ok_or_else(|| self.missing(&named))
    }

    /// The secret's value: the inline one, or the SecureString read (decrypted) from SSM.
    pub async fn resolve(
        &self,
        source: SecretSource,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<String, SecretError> {
        let named = source.clone();
        self.resolve_if_present(source, ssm)
            .await?
            .ok_or_else(|| self.missing(&named))
    }

    /// The error for a parameter SSM says does not exist.
    fn missing(&self, source: &SecretSource) -> SecretError {
        let (SecretSource::Parameter(name) | SecretSource::Inline(name)) = source;
        SecretError {
            var: self.parameter,
            reason: format!(
                "SSM parameter {name} does not exist; create it with scripts/deploy.sh or \
                 `aws ssm put-parameter --type SecureString`"
            ),
        }
    }

    /// Like [`SecretVars::load`], but a parameter that does not exist (yet) is `None`: for
    /// values a process can start without, such as an id a later deployment step creates.
    pub async fn load_if_present(
        &self,
        source: SecretSource,
    ) -> Result<Option<String>, SecretError> {
        match source {
            SecretSource::Inline(v) => Ok(Some(v)),
            parameter => {
                let sdk = shared_https::sdk::load().await;
                self.resolve_if_present(parameter, &aws_sdk_ssm::Client::new(&sdk))
                    .await
            }
        }
    }

    /// The value, or `None` when SSM answers that the parameter does not exist; any other
    /// failure (access, throttling, a plain String where a SecureString is required) is an
    /// error.
    pub async fn resolve_if_present(
        &self,
        source: SecretSource,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<Option<String>, SecretError> {
        let name = match source {
            SecretSource::Inline(v) => return Ok(Some(v)),
            SecretSource::Parameter(name) => name,
        };
        let invalid = |reason: String| SecretError {
            var: self.parameter,
            reason,
        };
        let out = match ssm
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(invalid(format!(
                    "cannot read SSM parameter {name} ({})",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                )));
            }
        };
        let parameter = out
            .parameter()
            .ok_or_else(|| invalid(format!("SSM parameter {name} came back empty")))?;
        if self.secure
            && parameter.r#type() != Some(&aws_sdk_ssm::types::ParameterType::SecureString)
        {
            return Err(invalid(format!(
                "SSM parameter {name} must be a SecureString: it holds a secret key"
            )));
        }
        Ok(Some(parameter.value().unwrap_or_default().to_owned()))
    }
}

impl From<SecretError> for env_config::ConfigError {
    fn from(e: SecretError) -> Self {
        env_config::ConfigError::new(e.var, e.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: SecretVars = SecretVars {
        inline: "K",
        parameter: "K_PARAMETER",
        secure: true,
        required: true,
    };

    fn source(pairs: &[(&str, &str)]) -> Result<SecretSource, SecretError> {
        VARS.source(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn exactly_one_source() {
        assert_eq!(
            source(&[("K", "abc")]),
            Ok(SecretSource::Inline("abc".into()))
        );
        assert_eq!(
            source(&[("K_PARAMETER", "/x/key")]),
            Ok(SecretSource::Parameter("/x/key".into()))
        );
        assert_eq!(source(&[]).unwrap_err().var, "K");
        assert_eq!(source(&[("K", " ")]).unwrap_err().var, "K");
        assert_eq!(
            source(&[("K", "a"), ("K_PARAMETER", "/x")])
                .unwrap_err()
                .var,
            "K"
        );
        assert_eq!(
            source(&[("K_PARAMETER", "x")]).unwrap_err().var,
            "K_PARAMETER"
        );
        assert_eq!(VARS.optional_source(|_| None), Ok(None));
    }
}
