//! Topics on the SNS stand-in (moto), and what was published to them: moto keeps each topic's
//! sent notifications and shows them on its `/moto-api/data.json` (the stand-in's own record,
//! not an AWS API).

use crate::{Endpoints, Error};

/// Creates `<prefix>-<unique>-alerts` on moto; returns its ARN.
pub async fn create_topic(endpoints: &Endpoints, prefix: &str) -> Result<String, Error> {
    let name = format!("{prefix}-{}-alerts", crate::dynamo::unique_suffix());
    let out = aws_sdk_sns::Client::new(&crate::sdk::moto_config(endpoints))
        .create_topic()
        .name(&name)
        .send()
        .await
        .map_err(Error::call("CreateTopic"))?;
    Ok(out.topic_arn().unwrap_or_default().to_owned())
}

/// The (subject, message) pairs published to `topic_arn` so far, oldest first.
pub async fn published(
    endpoints: &Endpoints,
    topic_arn: &str,
) -> Result<Vec<(String, String)>, Error> {
    let url = format!("{}/moto-api/data.json", endpoints.moto_url);
    let data: serde_json::Value = reqwest::get(&url)
        .await
        .map_err(Error::call("moto-api data"))?
        .json()
        .await
        .map_err(Error::call("moto-api data"))?;
    let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
    let Some(topic) = topics.iter().find(|t| t["arn"] == topic_arn) else {
        return Ok(Vec::new());
    };
    // Each notification: [message id, message, subject, attributes, group id].
    Ok(topic["sent_notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n[2].as_str().unwrap_or_default().to_owned(),
                n[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}
