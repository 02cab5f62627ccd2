//! The steps of the local flow. Each later issue adds its hop here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use standins::Endpoints;
use standins::cognito::{LocalPool, NewUser, throwaway_password};
use standins::tenants::DemoTenants;
use tenant_context::{TierCatalog, TokenVerifier, VerifiedToken, VerifierConfig};

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Standin(#[from] standins::Error),
    #[error(transparent)]
    Tenant(#[from] tenant_context::Error),
    #[error("demo tenant {clinic}: {source}")]
    DemoTenant {
        clinic: String,
        #[source]
        source: tenant_context::Error,
    },
    #[error("demo tenant {clinic}: the verified token says {got}, the demo data says {want}")]
    Disagreement {
        clinic: String,
        got: String,
        want: String,
    },
    #[error("a tampered token was accepted: the verifier is broken")]
    TamperAccepted,
}

pub async fn run() -> Result<(), FlowError> {
    let endpoints = Endpoints::from_env()?;
    let catalog = TierCatalog::embedded()?;
    let tenants = DemoTenants::embedded()?;
    println!(
        "Tenantry local flow, on the LOCAL STAND-INS (moto at {}); no AWS account is used.",
        endpoints.moto_url
    );

    step("Tier catalog (infra/tiers.json)");
    for (tier, cfg) in catalog.iter() {
        let hours = cfg.business_hours.as_ref().map_or("24/7".to_owned(), |b| {
            format!(
                "{} only {:02}:00-{:02}:00",
                b.tools.join(","),
                b.start_hour,
                b.end_hour
            )
        });
        println!(
            "    {tier:<8} model {:<34} {} req/s, burst {}, {}/{}; tools {}; {hours}",
            cfg.model_id,
            cfg.usage_plan.rate_limit,
            cfg.usage_plan.burst_limit,
            cfg.usage_plan.quota.limit,
            format!("{:?}", cfg.usage_plan.quota.period).to_lowercase(),
            cfg.tools.join(",")
        );
    }

    step("Cognito user pool on the stand-in");
    let pool = LocalPool::create(&endpoints, "tenantry-local").await?;
    println!("    pool {}  app client {}", pool.pool_id, pool.client_id);
    println!("    issuer {}", pool.issuer);
    println!(
        "    JWKS   {} (configured apart from the issuer)",
        pool.jwks_url
    );
    let verifier = TokenVerifier::new(
        VerifierConfig::new(&pool.issuer, &pool.client_id, &pool.jwks_url)?,
        catalog,
    )?;
    let keys = verifier.prefetch_keys().await?;
    println!("    {keys} signing key(s) fetched and cached");

    step("One user per clinic: sign in, verify the ID token, derive the tenant context");
    let mut first_token = None;
    for clinic in &tenants.clinics {
        let password = throwaway_password();
        pool.create_user(&NewUser {
            username: &clinic.user.username,
            password: &password,
            attributes: vec![
                ("tier", &clinic.tier),
                ("clinic_id", &clinic.clinic_id),
                ("role", &clinic.user.role),
            ],
        })
        .await?;
        let token = pool.sign_in(&clinic.user.username, &password).await?;
        let verified = verifier
            .verify(&token)
            .await
            .map_err(|source| FlowError::DemoTenant {
                clinic: clinic.clinic_id.clone(),
                source,
            })?;
        check_matches(clinic, &verified)?;
        print_context(&clinic.name, &verified);
        first_token.get_or_insert((clinic.clinic_id.clone(), token));
    }

    if let Some((clinic, token)) = first_token {
        step("Tamper check");
        let forged = retarget(&token, "hospital-x", "premium");
        match verifier.verify(&forged).await {
            Ok(_) => return Err(FlowError::TamperAccepted),
            Err(e) => println!(
                "    {clinic}'s token edited to claim hospital-x/premium: refused ({}: {e})",
                e.code()
            ),
        }
    }
    println!(
        "\nDone: {} tenants verified; the tampered token was refused.",
        tenants.clinics.len()
    );
    Ok(())
}

fn step(title: &str) {
    println!("\n==> {title}");
}

fn check_matches(
    clinic: &standins::tenants::DemoClinic,
    v: &VerifiedToken,
) -> Result<(), FlowError> {
    let got = format!("{}/{}", v.context.tier(), v.context.clinic_id());
    let want = format!("{}/{}", clinic.tier, clinic.clinic_id);
    if got == want {
        Ok(())
    } else {
        Err(FlowError::Disagreement {
            clinic: clinic.clinic_id.clone(),
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
