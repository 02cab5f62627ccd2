//! The front door, as a client meets it: `POST /invoke` on the API Gateway emulation, which runs
//! the real authorizer (cached per token), checks the tenant's API key and usage plan, then the
//! real request-proxy.

use devstack::DevStack;
use devstack::client::{Answer, ask};

use crate::error::{FlowError, unexpected};
use crate::identity::Identities;
use crate::tour::step;

fn refused_by(a: &Answer) -> String {
    format!(
        "HTTP {} {} ({})",
        a.status,
        a.gateway_error.as_deref().unwrap_or("-"),
        a.body["message"]
            .as_str()
            .or(a.body["Message"].as_str())
            .or(a.body["error"]["code"].as_str())
            .unwrap_or("")
    )
}

pub async fn front_door(
    stack: &DevStack,
    http: &reqwest::Client,
    ids: &Identities,
) -> Result<(), FlowError> {
    step(&format!(
        "Front door: POST {} (API Gateway EMULATION -> tenant-authorizer -> API key and usage plan -> request-proxy)",
        stack.api.invoke_url()
    ));
    let url = stack.api.invoke_url();
    let token_a = ids.token("clinic-a")?;
    let calls_before = stack.api.authorizer_calls();
    // A caller trying to upgrade itself with headers: they must change nothing.
    let forged_headers = [("X-Tier", "premium"), ("X-Clinic-ID", "hospital-x")];
    let a = ask(
        http,
        &url,
        token_a,
        "What are our opening hours?",
        None,
        &forged_headers,
    )
    .await?;
    if a.status != 200 || a.body["stop_reason"] != "answered" {
        return Err(unexpected(format!(
            "clinic-a should reach its own agent: {} {}",
            a.status, a.body
        )));
    }
    println!(
        "    clinic-a with X-Tier: premium and X-Clinic-ID: hospital-x sent along: HTTP 200, answered by the {} agent (forged headers changed nothing)",
        a.body["usage"]["model_id"].as_str().unwrap_or("?")
    );
    println!("        {}", devstack::reply::describe(&a.body));
    let again = ask(http, &url, token_a, "And our timezone?", None, &[]).await?;
    let calls = stack.api.authorizer_calls() - calls_before;
    if again.status != 200 || calls != 1 {
        return Err(unexpected(format!(
            "a second request with the same token should use the cached policy ({calls} authorizer calls)"
        )));
    }
    println!(
        "    a second request with the same token: HTTP 200, authorizer not called again (policy cached 60 s, as configured)"
    );

    // tenant-admin suspends clinic-d: its registry status, and its users disabled and signed
    // out. The token clinic-d's user already holds is refused at the front door; a new sign-in
    // is refused by Cognito.
    let suspended = devstack::setup::SUSPENDED_CLINIC;
    let users = stack
        .set_tenant_status(suspended, tenant_admin::TenantStatus::Suspended)
        .await?;
    match stack.sign_in(suspended).await {
        Err(_) => println!(
            "    tenant-admin suspends {suspended}: {users} user(s) disabled and signed out; a new sign-in is refused by Cognito"
        ),
        Ok(_) => {
            return Err(unexpected(format!(
                "a user of suspended {suspended} could still sign in"
            )));
        }
    }
    let expectations = [
        (
            "clinic-d's earlier token, after the suspension",
            ids.token("clinic-d")?.to_owned(),
            403,
            "AccessDeniedException",
        ),
        (
            "the tampered token",
            ids.forged.clone(),
            401,
            "UnauthorizedException",
        ),
        (
            "a valid token of another user pool",
            testkit::test_issuer::id_token("basic", "clinic-a"),
            401,
            "UnauthorizedException",
        ),
        (
            "a token that is not a JWT",
            "not-a-jwt".to_owned(),
            401,
            "UnauthorizedException",
        ),
    ];
    for (who, token, status, kind) in expectations {
        let r = ask(http, &url, &token, "Show patient p-1001", None, &[]).await?;
        if r.status != status || r.gateway_error.as_deref() != Some(kind) {
            return Err(unexpected(format!(
                "{who} should be refused by API Gateway with {status} {kind}: {}",
                refused_by(&r)
            )));
        }
        println!("    {who:<47} {}", refused_by(&r));
    }
    Ok(())
}
