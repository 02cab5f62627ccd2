//! The audit trail's log group on the CloudWatch Logs stand-in (moto).

use crate::{Endpoints, Error};

/// Creates `/<prefix>/<unique>/audit` on moto; returns its name.
pub async fn create(endpoints: &Endpoints, prefix: &str) -> Result<String, Error> {
    let group = format!("/{prefix}/{}/audit", crate::dynamo::unique_suffix());
    aws_sdk_cloudwatchlogs::Client::new(&crate::sdk::moto_config(endpoints))
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .map_err(Error::call("CreateLogGroup"))?;
    Ok(group)
}
