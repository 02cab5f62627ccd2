//! Onboarding and offboarding against the LOCAL STAND-INS (API Gateway keys and usage plans,
//! Cognito on moto; tables on dynalite): idempotent, per-tenant keys in the right plan, tenant
//! attributes set by the administrator, no user moved between tenants.

use tenant_admin::TenantStatus;
use tenant_admin::apply::apply;
use tenant_admin::{AdminError, Plan, StackOutputs, Targets, load_tenants};
use tenant_context::{TierCatalog, TierName};
use tenant_registry::RegistryError;

mod support;
use support::*;

async fn in_plan(stack: &Stack, tier: &TierName, key: &str) -> bool {
    stack
        .clients
        .apigateway
        .get_usage_plan_key()
        .usage_plan_id(&stack.targets.usage_plans[tier])
        .key_id(key)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn onboarding_is_complete_and_idempotent() {
    let stack = stack(None).await;
    let clinic = format!("clinic-{}", unique());
    let username = format!("dr.q@{clinic}.example");
    let tenant = &tenants(&stack.tiers, &clinic, "basic", &username)[0];
    let plan = Plan::onboard(tenant, &stack.targets, true).unwrap();

    let (first, lines) = run(&plan, &stack).await;
    assert!(lines.iter().any(|l| l.contains("created")), "{lines:?}");
    let key = first.api_key_id.clone().expect("key id");
    let basic = stack.tiers.tier("basic").unwrap();
    let premium = stack.tiers.tier("premium").unwrap();
    assert!(
        in_plan(&stack, &basic, &key).await,
        "key not in its tier's plan"
    );
    assert!(
        !in_plan(&stack, &premium, &key).await,
        "key in another tier's plan"
    );

    // The registry names the tenant's own key; the clinic row its timezone.
    let registry = &stack.targets.registry_table;
    let fields = texts(&stack, registry, &clinic, ["tier", "status", "api_key_id"]).await;
    assert_eq!(fields, ["basic", "active", key.as_str()]);
    let fields = texts(
        &stack,
        &stack.targets.clinic_table,
        &clinic,
        ["timezone", "tier"],
    )
    .await;
    assert_eq!(fields, ["Europe/Paris", "basic"]);

    // The user signs in and its token carries the tenant the administrator set.
    let (username_out, password) = first.test_credentials.clone().expect("test credentials");
    assert_eq!(username_out, username);
    let token = stack
        .pool
        .sign_in(&username, &password)
        .await
        .expect("sign in");
    let claims = payload(&token);
    assert_eq!(claims["custom:clinic_id"], clinic.as_str());
    assert_eq!(claims["custom:tier"], "basic");
    assert_eq!(claims["custom:role"], "clinician");

    // A second run changes nothing: same key, still one attachment, no second key.
    let (second, lines) = run(&plan, &stack).await;
    assert_eq!(second.api_key_id, first.api_key_id);
    assert!(lines.iter().any(|l| l.contains("unchanged")), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("already attached")),
        "{lines:?}"
    );
    let keys = stack
        .clients
        .apigateway
        .get_api_keys()
        .name_query(stack.targets.api_key_name(tenant))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.items().len(), 1, "exactly one key per tenant");
}

#[tokio::test]
async fn a_tier_change_moves_the_key_between_plans() {
    let stack = stack(None).await;
    let clinic = format!("clinic-{}", unique());
    let username = format!("dr.r@{clinic}.example");
    let onboard_in = |tier: &str| {
        let tenant = &tenants(&stack.tiers, &clinic, tier, &username)[0];
        Plan::onboard(tenant, &stack.targets, true).unwrap()
    };
    let (first, _) = run(&onboard_in("basic"), &stack).await;
    let (second, lines) = run(&onboard_in("premium"), &stack).await;
    let key = second.api_key_id.unwrap();
    assert_eq!(Some(&key), first.api_key_id.as_ref());
    assert!(lines.iter().any(|l| l.contains("detached")), "{lines:?}");
    assert!(in_plan(&stack, &stack.tiers.tier("premium").unwrap(), &key).await);
    assert!(
        !in_plan(&stack, &stack.tiers.tier("basic").unwrap(), &key).await,
        "still in the old tier's plan"
    );
    let reg = row(&stack, &stack.targets.registry_table, &clinic)
        .await
        .unwrap();
    assert_eq!(text(&reg, "tier"), "premium");
    // The key keeps the tags the authorizer requires (they name the tenant, not its tier).
    let tags = stack
        .clients
        .apigateway
        .get_api_key()
        .api_key(&key)
        .send()
        .await
        .unwrap()
        .tags()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        tags.get("ClinicId").map(String::as_str),
        Some(clinic.as_str())
    );
    assert_eq!(
        tags.get("Application").map(String::as_str),
        Some("tenantry")
    );
}

#[tokio::test]
async fn a_user_of_another_tenant_is_never_moved_or_deleted() {
    let stack = stack(None).await;
    let owner = format!("clinic-{}", unique());
    let username = format!("shared@{owner}.example");
    run(
        &Plan::onboard(
            &tenants(&stack.tiers, &owner, "basic", &username)[0],
            &stack.targets,
            true,
        )
        .unwrap(),
        &stack,
    )
    .await;

    let intruder = format!("other-{}", unique());
    let plan = Plan::onboard(
        &tenants(&stack.tiers, &intruder, "premium", &username)[0],
        &stack.targets,
        true,
    )
    .unwrap();
    let err = apply(&plan, &stack.clients, &mut |_| {})
        .await
        .expect_err("must refuse");
    assert!(
        matches!(err, AdminError::Conflict(ref m) if m.contains(&owner)),
        "{err}"
    );
    let offboard = Plan::offboard(
        &tenants(&stack.tiers, &intruder, "premium", &username)[0],
        &stack.targets,
    );
    let err = apply(&offboard, &stack.clients, &mut |_| {})
        .await
        .expect_err("must refuse");
    assert!(matches!(err, AdminError::Conflict(_)), "{err}");

    let user = stack
        .clients
        .cognito
        .admin_get_user()
        .user_pool_id(&stack.targets.user_pool_id)
        .username(&username)
        .send()
        .await
        .expect("user still there");
    let clinic = user
        .user_attributes()
        .iter()
        .find(|a| a.name() == "custom:clinic_id")
        .and_then(|a| a.value());
    assert_eq!(clinic, Some(owner.as_str()));
}

#[tokio::test]
async fn offboarding_removes_access_and_is_idempotent() {
    let stack = stack(None).await;
    let clinic = format!("clinic-{}", unique());
    let username = format!("dr.s@{clinic}.example");
    let tenant = tenants(&stack.tiers, &clinic, "premium", &username).remove(0);
    run(
        &Plan::onboard(&tenant, &stack.targets, true).unwrap(),
        &stack,
    )
    .await;

    let plan = Plan::offboard(&tenant, &stack.targets);
    run(&plan, &stack).await;
    // A tombstone: refused everywhere, and the id not given out again without --reuse-id.
    let [status] = texts(&stack, &stack.targets.registry_table, &clinic, ["status"]).await;
    assert_eq!(status, "offboarded");
    assert!(
        row(&stack, &stack.targets.clinic_table, &clinic)
            .await
            .is_none()
    );
    let keys = stack
        .clients
        .apigateway
        .get_api_keys()
        .name_query(stack.targets.api_key_name(&tenant))
        .send()
        .await
        .unwrap();
    assert!(
        keys.items()
            .iter()
            .all(|k| k.name() != Some(stack.targets.api_key_name(&tenant).as_str()))
    );
    let (_, lines) = run(&plan, &stack).await;
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("already absent"))
            .count()
            >= 2,
        "{lines:?}"
    );
}

#[tokio::test]
async fn suspension_needs_an_onboarded_tenant() {
    let stack = stack(None).await;
    let clinic = format!("clinic-{}", unique());
    let id = tenant_context::ClinicId::parse(&clinic).unwrap();
    let registry = stack.clients.registry(&stack.targets.registry_table);
    let err = registry
        .set_status(&id, TenantStatus::Suspended)
        .await
        .expect_err("unknown");
    assert!(matches!(err, RegistryError::NotOnboarded { .. }), "{err}");
    assert!(
        row(&stack, &stack.targets.registry_table, &clinic)
            .await
            .is_none(),
        "no row invented"
    );

    let tenant = tenants(
        &stack.tiers,
        &clinic,
        "basic",
        &format!("u@{clinic}.example"),
    )
    .remove(0);
    run(
        &Plan::onboard(&tenant, &stack.targets, true).unwrap(),
        &stack,
    )
    .await;
    registry
        .set_status(&id, TenantStatus::Suspended)
        .await
        .unwrap();
    let table = &stack.targets.registry_table;
    let [status, key] = texts(&stack, table, &clinic, ["status", "api_key_id"]).await;
    assert_eq!(status, "suspended");
    assert!(!key.is_empty(), "suspension keeps the key mapping");
}

/// A clinic's own token budget: only for an onboarded clinic, validated, kept when the tenants
/// file is applied again, and removed by `--tier-default`.
#[tokio::test]
async fn a_clinics_own_budget_is_set_kept_by_a_reapply_and_removed() {
    use tenant_admin::apply::set_clinic_budget;
    use tenant_context::TokenBudget;
    let stack = stack(None).await;
    let clinic = format!("clinic-{}", unique());
    let id = tenant_context::ClinicId::parse(&clinic).unwrap();
    let table = &stack.targets.registry_table;
    let budget = TokenBudget {
        daily_tokens: 1_000,
        monthly_tokens: Some(20_000),
    };
    let err = set_clinic_budget(&stack.clients, table, &id, Some(budget))
        .await
        .expect_err("not onboarded");
    assert!(err.to_string().contains("onboard it first"), "{err}");
    assert!(
        row(&stack, table, &clinic).await.is_none(),
        "no row invented"
    );

    let tenant = tenants(
        &stack.tiers,
        &clinic,
        "basic",
        &format!("u@{clinic}.example"),
    )
    .remove(0);
    let plan = Plan::onboard(&tenant, &stack.targets, true).unwrap();
    run(&plan, &stack).await;
    let registry = stack.clients.registry(table);
    assert_eq!(registry.get(&id).await.unwrap().unwrap().token_budget, None);

    let bad = TokenBudget {
        daily_tokens: 1_000,
        monthly_tokens: Some(10),
    };
    let err = set_clinic_budget(&stack.clients, table, &id, Some(bad))
        .await
        .expect_err("a month smaller than a day");
    assert!(err.to_string().contains("monthly_tokens"), "{err}");

    set_clinic_budget(&stack.clients, table, &id, Some(budget))
        .await
        .unwrap();
    assert_eq!(
        registry.get(&id).await.unwrap().unwrap().token_budget,
        Some(budget)
    );
    // Onboarding again (the weekly re-apply of the tenants file) keeps it.
    run(&plan, &stack).await;
    assert_eq!(
        registry.get(&id).await.unwrap().unwrap().token_budget,
        Some(budget)
    );
    set_clinic_budget(&stack.clients, table, &id, None)
        .await
        .unwrap();
    assert_eq!(registry.get(&id).await.unwrap().unwrap().token_budget, None);
}

/// Suspension works everywhere, not only at the front door: the clinic's users are disabled
/// and signed out (so no new ID token for the Runtimes and Gateways, which do not read the
/// registry), and only that clinic's users; resuming enables them again. Offboarding disables
/// them too.
#[tokio::test]
async fn suspension_disables_the_clinics_users_and_only_theirs() {
    let stack = stack(None).await;
    let clinic = format!("clinic-{}", unique());
    let other = format!("clinic-{}", unique());
    let mut users = Vec::new();
    for (c, name) in [(&clinic, "a"), (&other, "b")] {
        let username = format!("{name}@{c}.example");
        let tenant = tenants(&stack.tiers, c, "basic", &username).remove(0);
        let (outcome, _) = run(
            &Plan::onboard(&tenant, &stack.targets, true).unwrap(),
            &stack,
        )
        .await;
        let password = outcome.test_credentials.expect("test password").1;
        users.push((tenant, username, password));
    }
    // A colleague at the suspended clinic, created by hand (not in the tenant file).
    let colleague = format!("nurse@{clinic}.example");
    stack
        .pool
        .create_user(&testkit::cognito::NewUser {
            username: &colleague,
            password: "Colleague-Passw0rd!",
            attributes: vec![("tier", "basic"), ("clinic_id", &clinic), ("role", "nurse")],
        })
        .await
        .unwrap();
    let (_, user_a, password_a) = &users[0];
    let (_, user_b, password_b) = &users[1];
    stack
        .pool
        .sign_in(user_a, password_a)
        .await
        .expect("active");

    let id = tenant_context::ClinicId::parse(&clinic).unwrap();
    let n = set_status(&stack, &id, tenant_admin::TenantStatus::Suspended).await;
    assert_eq!(n, 2, "the tenant file's user and the colleague");
    assert!(stack.pool.sign_in(user_a, password_a).await.is_err());
    assert!(
        stack
            .pool
            .sign_in(&colleague, "Colleague-Passw0rd!")
            .await
            .is_err()
    );
    assert!(
        stack.pool.sign_in(user_b, password_b).await.is_ok(),
        "another clinic's user is untouched"
    );
    let [status] = texts(&stack, &stack.targets.registry_table, &clinic, ["status"]).await;
    assert_eq!(status, "suspended");

    set_status(&stack, &id, tenant_admin::TenantStatus::Active).await;
    assert!(
        stack.pool.sign_in(user_a, password_a).await.is_ok(),
        "resumed"
    );

    let (_, lines) = run(&Plan::offboard(&users[0].0, &stack.targets), &stack).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("2 user(s)") && l.contains("disabled")),
        "{lines:?}"
    );
    assert!(
        stack
            .pool
            .sign_in(&colleague, "Colleague-Passw0rd!")
            .await
            .is_err()
    );
}

#[test]
fn tenant_files_are_validated_entry_by_entry() {
    let tiers = TierCatalog::embedded().unwrap();
    let demo = load_tenants(include_str!("../../../infra/demo-tenants.json"), &tiers)
        .expect("demo tenants");
    assert_eq!(demo.len(), 8);
    let case = |entry: serde_json::Value| {
        let file = serde_json::json!({ "clinics": [entry] });
        load_tenants(&file.to_string(), &tiers)
    };
    let ok = serde_json::json!({"clinic_id": "c-1", "tier": "basic", "name": "C", "timezone": "Europe/Paris"});
    assert!(case(ok.clone()).is_ok());
    for (field, value) in [
        ("clinic_id", "Clinic_A"),
        ("tier", "gold"),
        ("timezone", "Mars/Olympus"),
        ("name", " "),
    ] {
        let mut bad = ok.clone();
        bad[field] = serde_json::json!(value);
        match case(bad) {
            Err(AdminError::Tenant { index: 0, .. }) => {}
            other => panic!("{field}={value:?} accepted: {other:?}"),
        }
    }
    // A user's role must be one of the tier file's (another could use no tool).
    let mut with_user = ok.clone();
    with_user["user"] = serde_json::json!({"username": "a@c-1.example", "role": "admin"});
    assert!(case(with_user.clone()).is_ok());
    with_user["user"]["role"] = serde_json::json!("front_desk");
    match case(with_user) {
        Err(AdminError::Tenant { reason, .. }) => {
            assert!(reason.contains("front_desk"), "{reason}")
        }
        other => panic!("an unknown role was accepted: {other:?}"),
    }
    let dup = serde_json::json!({ "clinics": [ok.clone(), ok] });
    assert!(matches!(
        load_tenants(&dup.to_string(), &tiers),
        Err(AdminError::Tenant { index: 1, .. })
    ));
    let mut unknown_field =
        serde_json::json!({"clinic_id": "c-1", "tier": "basic", "name": "C", "timezone": "UTC"});
    unknown_field["tenant_tier_override"] = serde_json::json!("premium");
    assert!(
        case(unknown_field).is_err(),
        "unknown fields are refused, not ignored"
    );
}

/// The outputs onboarding reads are the ones the template declares.
#[test]
fn the_template_declares_every_output_onboarding_reads() {
    let template: serde_json::Value =
        serde_json::from_str(include_str!("../../../infra/template.json")).unwrap();
    let outputs = template["Outputs"].as_object().unwrap();
    let tiers = TierCatalog::embedded().unwrap();
    let pairs: Vec<(&str, &str)> = outputs
        .keys()
        .map(|k| {
            (
                k.as_str(),
                if k == "AuditRetentionDays" {
                    "2192"
                } else {
                    "x"
                },
            )
        })
        .collect();
    let from_template = StackOutputs::from_pairs(pairs);
    Targets::from_outputs(&from_template, &tiers).expect("every needed output is declared");
}

/// Generated passwords (and the MFA they need relaxed) only on a stack deployed as a test
/// stack: a production stack's outputs say so, and onboarding with test users is refused
/// before anything is changed; without test users it goes on.
#[test]
fn test_users_are_refused_on_a_production_stack() {
    let template: serde_json::Value =
        serde_json::from_str(include_str!("../../../infra/template.json")).unwrap();
    let tiers = TierCatalog::embedded().unwrap();
    let tenant =
        &load_tenants(include_str!("../../../infra/demo-tenants.json"), &tiers).unwrap()[0];
    for (purpose, allowed) in [("production", false), ("test", true)] {
        let pairs: Vec<(&str, &str)> = template["Outputs"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| match k.as_str() {
                "StackPurpose" => (k.as_str(), purpose),
                "AuditRetentionDays" => (k.as_str(), "2192"),
                _ => (k.as_str(), "x"),
            })
            .collect();
        let targets = Targets::from_outputs(&StackOutputs::from_pairs(pairs), &tiers).unwrap();
        match Plan::onboard(tenant, &targets, true) {
            Ok(_) => assert!(allowed, "test users on a {purpose} stack"),
            Err(AdminError::NotATestStack) => assert!(!allowed, "{purpose}"),
            Err(other) => panic!("{purpose}: {other}"),
        }
        assert!(Plan::onboard(tenant, &targets, false).is_ok(), "{purpose}");
    }
}

/// The dry run needs no AWS, no stack and no credentials, and names every tenant.
#[test]
fn dry_run_runs_offline_and_lists_every_tenant() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenant-admin"))
        .args(["onboard", "--dry-run", "--tenants"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/demo-tenants.json"
        ))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for clinic in [
        "clinic-a",
        "clinic-b",
        "clinic-c",
        "clinic-d",
        "hospital-x",
        "hospital-y",
        "cardio-centre-z",
        "onco-institute-w",
    ] {
        assert!(
            stdout.contains(&format!("onboard {clinic} ")),
            "{clinic} missing:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("tenantry-{clinic} ")),
            "{clinic}'s key missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("would:"));
}

/// A reader that stops early (`| head`) is not an error: no panic, exit 0, the run goes on to
/// its end (a purge is not left half-done because nobody reads its progress).
#[test]
fn a_closed_stdout_is_no_panic() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenant-admin"))
        .args(["offboard", "--purge", "--dry-run", "--tenants"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/demo-tenants.json"
        ))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("AWS_PROFILE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // The reader is gone before the first line is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}
