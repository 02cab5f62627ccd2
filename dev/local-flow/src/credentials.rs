//! Token vending: a verified token turned into STS credentials tagged for its tenant, through
//! the production client path (Lambda Invoke of token-vending), with STS on moto.

use anyhow::Context as _;
use scoped_credentials::{CredentialCache, IssueRequest, Scope, VendingFunctionIssuer};
use tenant_context::VerifiedToken;
use testkit::Endpoints;
use testkit::sdk::moto_config;

use crate::narrate::step;

/// clinic-a's token turned into credentials through the production client path (Lambda
/// Invoke of token-vending via `VendingFunctionIssuer`), with STS on moto.
pub async fn vend_credentials(
    lambda: &aws_sdk_lambda::Client,
    endpoints: &Endpoints,
    verified: &VerifiedToken,
    token: &str,
    forged: &str,
) -> anyhow::Result<()> {
    step("Token vending: clinic-a's ID token -> STS credentials tagged for clinic-a");
    let cache = CredentialCache::new(VendingFunctionIssuer::new(lambda.clone(), "token-vending"));
    let tenant = &verified.context;
    let request = IssueRequest {
        id_token: token,
        tenant,
        scope: Scope::Data,
    };
    let creds = cache.get(request).await?;
    let valid_for = creds
        .expiration
        .duration_since(std::time::SystemTime::now())
        .map(|d| d.as_secs())
        .unwrap_or_default();
    println!(
        "    {} ({}) -> credentials {} (scope data), valid for {valid_for} s",
        tenant.clinic_id(),
        verified.username.as_deref().unwrap_or("?"),
        creds.access_key_id,
    );
    let tags: Vec<String> = tenant
        .session_tags()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("        session tags       {}", tags.join(" "));

    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&moto_config(endpoints))
            .credentials_provider(creds.to_aws())
            .build(),
    );
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .context("GetCallerIdentity on the STS stand-in with the vended credentials")?;
    println!(
        "        acting as          {} (GetCallerIdentity with the vended credentials)",
        who.arn().unwrap_or("?")
    );
    let again = cache.get(request).await?;
    println!(
        "        second request     {} (same session, no new invocation)",
        if again.access_key_id == creds.access_key_id {
            "served from the cache"
        } else {
            "re-issued"
        }
    );

    // The tampered token, sent straight to the function (the cache trusts its callers to have
    // verified the token, so this goes to the issuer): the function verifies it itself.
    let refused = cache
        .issuer()
        .vend(IssueRequest {
            id_token: forged,
            tenant,
            scope: Scope::Data,
        })
        .await;
    match refused {
        Ok(_) => anyhow::bail!("a tampered token was accepted: the verifier is broken"),
        Err(e) => println!("    the tampered token sent to the function: refused ({e})"),
    }

    // tool-target's deployment vends data and documents only; memory credentials come from the
    // agents' own deployment of the same function.
    let other_scope = cache
        .issuer()
        .vend(IssueRequest {
            id_token: token,
            tenant,
            scope: Scope::Memory,
        })
        .await;
    match other_scope {
        Ok(_) => anyhow::bail!(
            "tool-target's token-vending deployment vended memory credentials: its allowed scopes are broken"
        ),
        Err(e) => println!(
            "    a memory-scope request to tool-target's deployment: refused ({e}); the agents have their own"
        ),
    }
    Ok(())
}
