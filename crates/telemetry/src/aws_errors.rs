//! What every binary logs when an AWS call fails: the operation, the error's code and its
//! Display chain (a connection failure's cause, a service error's message), never the SDK
//! error's `Debug` form, which carries the raw response (a patient row, an API key's value).

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Logs a failed AWS call at error level.
pub fn log_failure<E>(op: &'static str, e: &E)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    tracing::error!(
        op,
        code = e.code().unwrap_or("-"),
        error = %DisplayErrorContext(e),
        "AWS call failed"
    );
}

/// An error and every cause under it, on one line (for a log field).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    DisplayErrorContext(e).to_string()
}

/// The first line of an error's chain, at most 200 characters: what a typed error may carry
/// (an AWS validation message can quote the request).
pub fn brief(e: &(dyn std::error::Error + 'static)) -> String {
    DisplayErrorContext(e)
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}
