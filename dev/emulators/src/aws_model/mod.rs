//! AWS's own service models (botocore's `service-2.json`, pinned with the stand-ins and
//! extracted into `.tools/aws-models` by `scripts/install-standins.sh`) as the judge of every
//! request an emulation is sent: an emulation must refuse what AWS would refuse.
//!
//! - [`ServiceModel`]: an operation by method and path (REST) or by `X-Amz-Target` (JSON), the
//!   request turned back into the operation's input, and the input checked against the
//!   model's constraints: required members, string lengths (in characters, as Smithy counts
//!   them), patterns (matched against the whole value), enums, numeric ranges, list and map
//!   sizes, unions; a violation is answered as AWS answers it (400 and the service's
//!   validation error code, the constraints in Coral's words, never the offending value);
//! - [`layer`]: that check in front of an emulation's routes, with the model's success status;
//! - [`mutations`]: requests that each break one constraint of an operation, for the tests
//!   that hold every emulation to the model.
//!
//! Written by hand: no Rust crate reads Smithy or botocore models at run time. What is not
//! checked is said where it is skipped (payload documents, `headers` prefix maps).

pub mod front;
mod http;
pub mod layer;
pub mod mutations;
mod patterns;
mod shapes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use http::{HttpRequest, ParsedInput, serialize};
pub use layer::{Checks, validated};
pub use shapes::Violation;

/// Where `scripts/standins.sh` says the extracted models are (else `.tools/aws-models` under
/// the workspace).
pub const ENV_AWS_MODELS: &str = "TENANTRY_AWS_MODELS";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "the AWS service model of {service} was not found at {path}: run scripts/install-standins.sh (it extracts botocore's models into .tools/aws-models)"
    )]
    Missing { service: String, path: String },
    #[error("the AWS service model of {service} is unreadable: {reason}")]
    Invalid { service: String, reason: String },
    #[error("{service} has no operation {operation}")]
    NoOperation { service: String, operation: String },
}

/// The wire protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `rest-json`: method and path choose the operation; members in the path, query,
    /// headers and a JSON body.
    RestJson,
    /// `json`: `X-Amz-Target: <prefix>.<Operation>`, the input as the JSON body.
    Json,
    /// `query`: `Action=<Operation>` and the input as form fields (not validated here).
    Query,
}

/// One operation of the model.
#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub method: String,
    pub request_uri: String,
    pub response_code: u16,
    pub input: Option<String>,
    pub errors: Vec<String>,
}

/// A botocore service model.
#[derive(Debug)]
pub struct ServiceModel {
    pub service: String,
    pub protocol: Protocol,
    pub target_prefix: Option<String>,
    pub botocore_version: String,
    signing_name: String,
    operations: HashMap<String, Operation>,
    shapes: Map<String, Value>,
    patterns: patterns::Cache,
}

/// The directory of the extracted models.
pub fn models_dir() -> PathBuf {
    std::env::var_os(ENV_AWS_MODELS)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/aws-models")
        })
}

impl ServiceModel {
    /// The model of `service` (botocore's name: `bedrock-agentcore`, `lambda`, ...), read
    /// from [`models_dir`].
    pub fn load(service: &str) -> Result<Arc<Self>, ModelError> {
        let path = models_dir().join(format!("{service}.json"));
        let text = std::fs::read_to_string(&path).map_err(|_| ModelError::Missing {
            service: service.to_owned(),
            path: path.display().to_string(),
        })?;
        let model: Value = serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
            service: service.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_value(service, &model).map(Arc::new)
    }

    pub fn from_value(service: &str, model: &Value) -> Result<Self, ModelError> {
        let invalid = |reason: &str| ModelError::Invalid {
            service: service.to_owned(),
            reason: reason.to_owned(),
        };
        let metadata = &model["metadata"];
        let protocol = match metadata["protocol"].as_str() {
            Some("rest-json") => Protocol::RestJson,
            Some("json") => Protocol::Json,
            Some("query") => Protocol::Query,
            other => return Err(invalid(&format!("protocol {other:?} is not handled"))),
        };
        let shapes = model["shapes"]
            .as_object()
            .cloned()
            .ok_or_else(|| invalid("no shapes"))?;
        let mut operations = HashMap::new();
        for (name, op) in model["operations"]
            .as_object()
            .ok_or_else(|| invalid("no operations"))?
        {
            let http = &op["http"];
            operations.insert(
                name.clone(),
                Operation {
                    name: name.clone(),
                    method: http["method"].as_str().unwrap_or("POST").to_owned(),
                    request_uri: http["requestUri"].as_str().unwrap_or("/").to_owned(),
                    response_code: http["responseCode"].as_u64().unwrap_or(200) as u16,
                    input: op["input"]["shape"].as_str().map(str::to_owned),
                    errors: op["errors"]
                        .as_array()
                        .map(|e| {
                            e.iter()
                                .filter_map(|e| e["shape"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            );
        }
        Ok(Self {
            service: service.to_owned(),
            protocol,
            target_prefix: metadata["targetPrefix"].as_str().map(str::to_owned),
            botocore_version: metadata["botocoreVersion"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
            signing_name: metadata["signingName"]
                .as_str()
                .or(metadata["endpointPrefix"].as_str())
                .unwrap_or(service)
                .to_owned(),
            operations,
            shapes,
            patterns: patterns::Cache::default(),
        })
    }

    pub fn operation(&self, name: &str) -> Result<&Operation, ModelError> {
        self.operations
            .get(name)
            .ok_or_else(|| ModelError::NoOperation {
                service: self.service.clone(),
                operation: name.to_owned(),
            })
    }

    pub(crate) fn shape(&self, name: &str) -> &Value {
        self.shapes.get(name).unwrap_or(&Value::Null)
    }

    /// The error code AWS answers a constraint violation of `operation` with: the service's
    /// `ValidationException`, or `BadRequestException` where that is the service's (API
    /// Gateway). Coral services not listing either (Lambda) still answer `ValidationException`.
    pub fn validation_error_code(&self, operation: &Operation) -> &'static str {
        let has = |code: &str| operation.errors.iter().any(|e| e == code);
        if !has("ValidationException") && has("BadRequestException") {
            "BadRequestException"
        } else {
            "ValidationException"
        }
    }

    /// Checks a request for `operation` against the model: the input it carries, or the
    /// violations (empty only when the input is valid).
    pub fn check(&self, operation: &Operation, req: &HttpRequest) -> Result<Value, Vec<Violation>> {
        let input = http::parse(self, operation, req)?;
        let mut violations = Vec::new();
        if let Some(shape) = &operation.input {
            shapes::check(self, shape, &input.members, "", &mut violations);
        }
        if violations.is_empty() {
            Ok(input.members)
        } else {
            Err(violations)
        }
    }

    /// The name requests are signed for (`Credential=.../<region>/<name>/aws4_request`).
    pub fn signing_name(&self) -> &str {
        &self.signing_name
    }

    /// Every operation of the service.
    pub fn all_operations(&self) -> Vec<&Operation> {
        self.operations.values().collect()
    }

    /// Every operation whose name is in `names`, in that order.
    pub fn operations<'a>(&'a self, names: &[&str]) -> Result<Vec<&'a Operation>, ModelError> {
        names.iter().map(|n| self.operation(n)).collect()
    }
}

/// AWS's words for a set of violations (`N validation error(s) detected: ...`).
pub fn violation_message(violations: &[Violation]) -> String {
    let n = violations.len();
    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
    format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        list.join("; ")
    )
}
