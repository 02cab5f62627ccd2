//! Identity: every demo user signs in on the Cognito stand-in, the ID token is verified and the
//! tenant context derived from it alone; an edited token is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devstack::DevStack;
use serde_json::Value;
use tenant_context::{TierCatalog, TokenVerifier, VerifiedToken, VerifierConfig};

use crate::error::FlowError;
use crate::tour::step;

/// Every clinic's token (verified), the first one's verified token, and a forged token.
pub struct Identities {
    pub tokens: std::collections::HashMap<String, String>,
    /// Each clinic's tenant context, as its verified token gives it.
    pub contexts: std::collections::HashMap<String, tenant_context::TenantContext>,
    pub first: (VerifiedToken, String),
    pub forged: String,
}

impl Identities {
    pub fn token(&self, clinic: &str) -> Result<&str, FlowError> {
        self.tokens
            .get(clinic)
            .map(String::as_str)
            .ok_or_else(|| crate::error::unexpected(format!("no demo user for {clinic}")))
    }

    pub fn context(&self, clinic: &str) -> Result<&tenant_context::TenantContext, FlowError> {
        self.contexts
            .get(clinic)
            .ok_or_else(|| crate::error::unexpected(format!("no demo user for {clinic}")))
    }
}

pub async fn sign_in_everyone(stack: &DevStack) -> Result<Identities, FlowError> {
    step("One user per clinic: sign in, verify the ID token, derive the tenant context");
    let pool = &stack.pool;
    let verifier = TokenVerifier::new(
        VerifierConfig::new(&pool.issuer, &pool.client_id, &pool.jwks_url)?,
        TierCatalog::embedded()?,
    )?;
    let keys = verifier.prefetch_keys().await?;
    println!(
        "    issuer {} (JWKS at {}; {keys} signing key(s) cached)",
        pool.issuer, pool.jwks_url
    );
    let mut tokens = std::collections::HashMap::new();
    let mut contexts = std::collections::HashMap::new();
    let mut first = None;
    for tenant in testkit::tenants::demo_tenants()? {
        let clinic = tenant.clinic_id.to_string();
        let token = stack.sign_in(&clinic).await?;
        let verified = verifier
            .verify(&token)
            .await
            .map_err(|source| FlowError::DemoTenant {
                clinic: clinic.clone(),
                source,
            })?;
        check_matches(&tenant, &verified)?;
        print_context(&tenant.name, &verified);
        contexts.insert(clinic.clone(), verified.context.clone());
        tokens.insert(clinic, token.clone());
        first.get_or_insert((verified, token));
    }
    let (verified, token) =
        first.ok_or_else(|| crate::error::unexpected("infra/demo-tenants.json lists no clinic"))?;

    step("Tamper check");
    let forged = retarget(&token, "hospital-x", "premium");
    match verifier.verify(&forged).await {
        Ok(_) => return Err(FlowError::TamperAccepted),
        Err(e) => println!(
            "    {}'s token edited to claim hospital-x/premium: refused ({}: {e})",
            verified.context.clinic_id(),
            e.code()
        ),
    }
    Ok(Identities {
        tokens,
        contexts,
        first: (verified, token),
        forged,
    })
}

fn check_matches(clinic: &tenant_admin::Tenant, v: &VerifiedToken) -> Result<(), FlowError> {
    let got = format!("{}/{}", v.context.tier(), v.context.clinic_id());
    let want = format!("{}/{}", clinic.tier, clinic.clinic_id);
    if got == want {
        Ok(())
    } else {
        Err(FlowError::Disagreement {
            clinic: clinic.clinic_id.to_string(),
            got,
            want,
        })
    }
}

fn print_context(name: &str, v: &VerifiedToken) {
    let c = &v.context;
    println!(
        "    {} ({name}) user {} -> tier {}, role {}",
        c.clinic_id(),
        v.username.as_deref().unwrap_or("?"),
        c.tier(),
        c.role()
    );
    println!("        user key (sub)     {}", c.user());
    println!("        memory actor id    {}", c.actor_id());
    println!("        S3 prefix          {}", c.s3_prefix());
    println!("        role session name  {}", c.role_session_name());
    let tags: Vec<String> = c
        .session_tags()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("        session tags       {}", tags.join(" "));
}

/// The token with its payload edited to claim another tenant; header and signature kept.
fn retarget(token: &str, clinic: &str, tier: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let Some(payload) = parts.get(1).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()) else {
        return token.to_owned();
    };
    let Ok(mut claims) = serde_json::from_slice::<Value>(&payload) else {
        return token.to_owned();
    };
    claims["custom:clinic_id"] = clinic.into();
    claims["custom:tier"] = tier.into();
    let edited = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{edited}.{}", parts[0], parts.get(2).unwrap_or(&""))
}
