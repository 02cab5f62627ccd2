//! The steps of the local flow. Each later issue adds its hop here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scoped_credentials::{CredentialCache, IssueRequest, Scope, VendingFunctionIssuer};
use serde_json::Value;
use standins::Endpoints;
use standins::cognito::{LocalPool, NewUser, throwaway_password};
use standins::lambda::LambdaEmulator;
use standins::sdk::{config_for, moto_config};
use standins::tenants::DemoTenants;
use tenant_context::{TierCatalog, TokenVerifier, VerifiedToken, VerifierConfig};

/// The TVM role the local token-vending function assumes on the STS stand-in (moto's default
/// account; moto checks neither the role nor its policies).
const LOCAL_TVM_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/tenantry-tvm";
const DEFAULT_LAMBDA_PORT: u16 = 47153;

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
    #[error(transparent)]
    Credentials(#[from] scoped_credentials::Error),
    #[error("{what}")]
    Unexpected { what: String },
    #[error("STS stand-in call with the vended credentials failed")]
    CallerIdentity(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    let mut first: Option<(VerifiedToken, String)> = None;
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
        first.get_or_insert((verified, token));
    }
    let (verified, token) = first.ok_or_else(|| FlowError::Unexpected {
        what: "infra/demo-tenants.json lists no clinic".into(),
    })?;

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

    vend_credentials(&endpoints, &pool, &verified, &token, &forged).await?;

    println!(
        "\nDone: {} tenants verified, the tampered token refused, {}'s token turned into \
         credentials tagged for {}.",
        tenants.clinics.len(),
        verified.context.clinic_id(),
        verified.context.clinic_id()
    );
    Ok(())
}

/// The real token-vending binary, run by cargo-lambda's Lambda emulator, called through the
/// production client path (Lambda Invoke via `VendingFunctionIssuer`), with STS on moto.
async fn vend_credentials(
    endpoints: &Endpoints,
    pool: &LocalPool,
    verified: &VerifiedToken,
    token: &str,
    forged: &str,
) -> Result<(), FlowError> {
    step(
        "Token vending: the real token-vending function on the Lambda stand-in (cargo lambda watch)",
    );
    let port = std::env::var("TENANTRY_LAMBDA_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_LAMBDA_PORT);
    let workspace = std::env::current_dir().map_err(|e| FlowError::Unexpected {
        what: format!("no current directory: {e}"),
    })?;
    let run_dir = workspace.join(".tools/run");
    let env = [
        ("TENANTRY_TOKEN_ISSUER", pool.issuer.clone()),
        ("TENANTRY_TOKEN_AUDIENCE", pool.client_id.clone()),
        ("TENANTRY_JWKS_URL", pool.jwks_url.clone()),
        ("TENANTRY_TVM_ROLE_ARN", LOCAL_TVM_ROLE_ARN.to_owned()),
        ("AWS_ENDPOINT_URL", endpoints.moto_url.clone()),
        ("AWS_REGION", standins::STANDIN_REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "standin".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "standin".to_owned()),
    ];
    let emulator = LambdaEmulator::start(
        &workspace,
        port,
        &env,
        &run_dir.join("lambda-emulator.log"),
        Some(&run_dir.join("lambda-emulator.pid")),
    )?;
    println!(
        "    emulator on {} (log: .tools/run/lambda-emulator.log)",
        emulator.endpoint_url()
    );
    let lambda = aws_sdk_lambda::Client::new(&config_for(&emulator.endpoint_url()));
    let cache = CredentialCache::new(VendingFunctionIssuer::new(lambda, "token-vending"));
    let tenant = &verified.context;
    let request = IssueRequest {
        id_token: token,
        tenant,
        scope: Some(Scope::Data),
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
        .map_err(|e| FlowError::CallerIdentity(Box::new(e)))?;
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
            scope: Some(Scope::Data),
        })
        .await;
    match refused {
        Ok(_) => return Err(FlowError::TamperAccepted),
        Err(e) => println!("    the tampered token sent to the function: refused ({e})"),
    }
    drop(emulator);
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
