//! Identity: every demo user signs in on the Cognito stand-in, the ID token is verified and the
//! tenant context derived from it alone; an edited token is refused.

use anyhow::Context as _;
use anyhow::anyhow;
use devstack::DevStack;
use tenant_context::{TierCatalog, TokenVerifier, VerifiedToken, VerifierConfig};

use crate::narrate::step;

/// Every clinic's token (verified), the first one's verified token, and a forged token.
pub struct Identities {
    pub tokens: std::collections::HashMap<String, String>,
    /// Each clinic's tenant context, as its verified token gives it.
    pub contexts: std::collections::HashMap<String, tenant_context::TenantContext>,
    pub first: (VerifiedToken, String),
    pub forged: String,
}

impl Identities {
    pub fn token(&self, clinic: &str) -> anyhow::Result<&str> {
        self.tokens
            .get(clinic)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("no demo user for {clinic}"))
    }

    pub fn context(&self, clinic: &str) -> anyhow::Result<&tenant_context::TenantContext> {
        self.contexts
            .get(clinic)
            .ok_or_else(|| anyhow!("no demo user for {clinic}"))
    }
}

pub async fn sign_in_everyone(stack: &DevStack) -> anyhow::Result<Identities> {
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
            .with_context(|| format!("demo tenant {clinic}: its token does not verify"))?;
        check_matches(&tenant, &verified)?;
        print_context(&tenant.name, &verified);
        contexts.insert(clinic.clone(), verified.context.clone());
        tokens.insert(clinic, token.clone());
        first.get_or_insert((verified, token));
    }
    let (verified, token) =
        first.ok_or_else(|| anyhow!("infra/demo-tenants.json lists no clinic"))?;

    step("Tamper check");
    let forged = devstack::scenarios::retarget(&token, "hospital-x", "premium");
    match verifier.verify(&forged).await {
        Ok(_) => anyhow::bail!("a tampered token was accepted: the verifier is broken"),
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

fn check_matches(clinic: &tenant_admin::Tenant, v: &VerifiedToken) -> anyhow::Result<()> {
    let got = format!("{}/{}", v.context.tier(), v.context.clinic_id());
    let want = format!("{}/{}", clinic.tier, clinic.clinic_id);
    if got == want {
        Ok(())
    } else {
        Err(anyhow!(
            "demo tenant {}: the verified token says {got}, the demo data says {want}",
            clinic.clinic_id
        ))
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
