//! The trigger against AWS's own Pre Token Generation sample (version 1, as the template
//! configures the trigger): Cognito's event shape, and the documented no-op answer (the event
//! back with `response.claimsOverrideDetails` null) for a user of an active tenant.

use pre_token::{PreTokenError, Registry, TenantRecord, handle};
use serde_json::Value;
use testkit::aws_samples;

const OURS: &str = include_str!("../../../events/pre-token/sign-in-clinic-a.json");
const SAMPLE: &str = "cognito-pre-token-generation-v1.json";

/// A registry in which every clinic is an active basic one.
struct AllActive;

impl Registry for AllActive {
    async fn lookup(&self, _: &str) -> Result<Option<TenantRecord>, PreTokenError> {
        Ok(Some(TenantRecord {
            tier: "basic".into(),
            status: tenant_registry::TenantStatus::Active,
        }))
    }
}

#[tokio::test]
async fn awss_sample_gets_the_documented_no_op_and_without_a_tenant_no_tokens() {
    let mut sample = aws_samples::json(SAMPLE);
    assert_eq!(sample["version"], "1");
    // AWS's sample user has no tenant: no tokens, whatever else the event holds.
    assert!(matches!(
        handle(sample.clone(), &AllActive).await,
        Err(PreTokenError::NoTenant)
    ));
    let attrs = &mut sample["request"]["userAttributes"];
    attrs["custom:tier"] = "basic".into();
    attrs["custom:clinic_id"] = "clinic-a".into();
    let answer = handle(sample.clone(), &AllActive).await.unwrap();
    assert_eq!(answer, sample, "version 1's no-op is the event unchanged");
    assert_eq!(answer["response"]["claimsOverrideDetails"], Value::Null);
}

#[test]
fn the_projects_event_has_cognitos_shape() {
    let ours: Value = serde_json::from_str(OURS).unwrap();
    let sample = aws_samples::json(SAMPLE);
    let differences = aws_samples::shape_differences(
        &ours,
        &sample,
        // Sent only when the app passes client metadata.
        &["request.clientMetadata"],
        // Our user's attributes are ours (the sample's user has only email and phone).
        &["request.userAttributes"],
    );
    assert!(differences.is_empty(), "{differences:#?}");
    assert_eq!(ours["triggerSource"], sample["triggerSource"]);
}
