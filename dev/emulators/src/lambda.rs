//! Calling a function through the Lambda `Invoke` API (aws-sdk-lambda), as the production
//! clients do; locally the API is [`crate::lambda_api`]'s stand-in.

use testkit::Error;

/// Invokes `function` with a JSON payload: `Ok(Ok(reply))`, or `Ok(Err(the function's error
/// object))` when the function failed (Lambda answers 200 with `X-Amz-Function-Error`; some
/// emulators answer HTTP 500 with the error object: both are read), or `Err` when the service
/// could not be reached.
pub async fn invoke_json(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &serde_json::Value,
) -> Result<Result<serde_json::Value, serde_json::Value>, Error> {
    use serde_json::Value;
    let sent = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await;
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
    match sent {
        Ok(out) if out.function_error().is_none() => Ok(Ok(parse(
            out.payload().map(|b| b.as_ref()).unwrap_or_default(),
        ))),
        Ok(out) => Ok(Err(parse(
            out.payload().map(|b| b.as_ref()).unwrap_or_default(),
        ))),
        Err(e) => match e.raw_response().and_then(|r| r.body().bytes()).map(parse) {
            Some(err) if err.get("errorType").is_some() => Ok(Err(err)),
            _ => Err(Error::Call {
                op: "lambda invoke",
                source: Box::new(e),
            }),
        },
    }
}
