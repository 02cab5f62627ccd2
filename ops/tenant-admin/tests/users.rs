//! `tenant-admin user` and suspension against the LOCAL STAND-INS (Cognito on moto, the
//! registry on dynalite, AgentCore Memory on its emulation, every request checked against
//! AWS's service model): a role change erases the user's memory and nobody else's, and an
//! interrupted one finishes when run again; a resume enables only the users its suspension
//! disabled; no command touches another clinic's user.

mod support;

use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{Content, Conversational, PayloadType, Role as MsgRole};
use emulators::memory::{MemoryEmulation, definitions, local_memory_id};
use support::*;
use tenant_admin::users::{UserChange, UserRequest, apply_user};
use tenant_admin::{AdminError, Plan, TenantStatus, TenantUser};
use tenant_context::{ClinicId, Role, TenantContext, TierCatalog};
use testkit::cognito::NewUser;

const PASSWORD: &str = "Test-Passw0rd!";

struct World {
    stack: Stack,
    memory: MemoryEmulation,
    clinic: ClinicId,
}

async fn world() -> World {
    let catalog = TierCatalog::embedded().unwrap();
    let memory = MemoryEmulation::start(definitions(&catalog, local_memory_id), 0)
        .await
        .unwrap();
    let stack = stack(Some(&memory.endpoint())).await;
    let clinic = format!("clinic-{}", unique());
    let tenant = tenants(
        &stack.tiers,
        &clinic,
        "basic",
        &format!("dr@{clinic}.example"),
    )
    .remove(0);
    run(
        &Plan::onboard(&tenant, &stack.targets, true).unwrap(),
        &stack,
    )
    .await;
    World {
        stack,
        memory,
        clinic: ClinicId::parse(&clinic).unwrap(),
    }
}

impl World {
    /// A user of `clinic` created by hand (as an earlier `user add` would have).
    async fn user(&self, clinic: &str, name: &str, role: &str) -> String {
        let username = format!("{name}@{clinic}.example");
        self.stack
            .pool
            .create_user(&NewUser {
                username: &username,
                password: PASSWORD,
                attributes: vec![("tier", "basic"), ("clinic_id", clinic), ("role", role)],
            })
            .await
            .unwrap();
        username
    }

    async fn change(&self, username: &str, change: UserChange) -> Result<Vec<String>, AdminError> {
        self.change_with(&self.stack.clients, username, change)
            .await
    }

    async fn change_with(
        &self,
        clients: &tenant_admin::apply::Clients,
        username: &str,
        change: UserChange,
    ) -> Result<Vec<String>, AdminError> {
        let request = UserRequest {
            clinic: self.clinic.clone(),
            username: username.into(),
            change,
        };
        let mut lines = Vec::new();
        apply_user(
            &request,
            clients,
            &self.stack.targets,
            &self.stack.tiers,
            &mut |l| lines.push(l),
        )
        .await?;
        Ok(lines)
    }

    async fn sub(&self, username: &str) -> String {
        tenant_admin::apply::find_user(
            &self.stack.clients,
            &self.stack.targets.user_pool_id,
            username,
        )
        .await
        .unwrap()
        .and_then(|u| u.sub)
        .expect("the user's sub")
    }

    /// What the agent stores for `username` in a conversation: a question and its answer,
    /// in two sessions (the emulation extracts a long-term record from each message).
    async fn converse(&self, username: &str, text: &str) -> String {
        let who = TenantContext::parse(
            &self.stack.tiers,
            "basic",
            self.clinic.as_str(),
            &self.sub(username).await,
            "nurse",
        )
        .unwrap();
        for session in [
            "session-one-0000000000000000000000000001",
            "session-two-0000000000000000000000000002",
        ] {
            for (role, words) in [
                (MsgRole::User, "what about p-1001"),
                (MsgRole::Assistant, text),
            ] {
                self.stack
                    .clients
                    .memory
                    .create_event()
                    .memory_id(local_memory_id("basic"))
                    .actor_id(who.actor_id().as_str())
                    .session_id(session)
                    .event_timestamp(DateTime::from_secs(1_790_000_000))
                    .payload(PayloadType::Conversational(
                        Conversational::builder()
                            .role(role)
                            .content(Content::Text(words.into()))
                            .build()
                            .unwrap(),
                    ))
                    .send()
                    .await
                    .unwrap();
            }
        }
        who.actor_id().as_str().to_owned()
    }

    /// (events, records) the emulation holds for `actor`.
    fn held(&self, actor: &str) -> (usize, usize) {
        let records = self
            .memory
            .records()
            .into_iter()
            .filter(|(ns, _)| ns.contains(&format!("/{actor}/")))
            .count();
        (
            self.memory.event_count(&local_memory_id("basic"), actor),
            records,
        )
    }
}

/// A nurse made admin keeps nothing the nurse's conversations left in memory; a colleague's
/// memory is untouched; the old role's tokens are revoked (refresh) and the role is set.
#[tokio::test]
async fn a_role_change_erases_the_users_memory_and_nobody_elses() {
    let w = world().await;
    let nurse = w.user(w.clinic.as_str(), "nurse", "nurse").await;
    let colleague = w.user(w.clinic.as_str(), "colleague", "nurse").await;
    let nurse_actor = w
        .converse(&nurse, "Jane Doe: HbA1c 7.9, on metformin")
        .await;
    let colleague_actor = w.converse(&colleague, "Ali Khan: BP 150/95").await;
    assert_eq!(w.held(&nurse_actor), (4, 4));
    assert_eq!(w.held(&colleague_actor), (4, 4));

    let lines = w
        .change(
            &nurse,
            UserChange::SetRole {
                role: Role::parse("admin").unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(
        lines.iter().any(|l| l.contains("role nurse -> admin")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("4 event(s) and 4 long-term record(s) erased")),
        "{lines:?}"
    );
    assert_eq!(
        w.held(&nurse_actor),
        (0, 0),
        "nothing of the nurse's conversations is left"
    );
    assert_eq!(
        w.held(&colleague_actor),
        (4, 4),
        "the colleague's memory is untouched"
    );
    let token = w.stack.pool.sign_in(&nurse, PASSWORD).await.unwrap();
    assert_eq!(payload(&token)["custom:role"], "admin");
    // Nothing clinical is left anywhere the admin's actor could recall from.
    assert!(
        w.memory
            .records()
            .iter()
            .all(|(_, text)| !text.contains("Jane Doe"))
    );

    // Run again: the role is confirmed, the erasure finds nothing.
    let again = w
        .change(
            &nurse,
            UserChange::SetRole {
                role: Role::parse("admin").unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(
        again.iter().any(|l| l.contains("already admin")),
        "{again:?}"
    );
    assert!(
        again
            .iter()
            .any(|l| l.contains("0 event(s) and 0 long-term record(s)")),
        "{again:?}"
    );
}

/// More than a page of events and records (AWS pages at most 100, and deletes at most 100
/// records a call): all of them erased.
#[tokio::test]
async fn a_memory_larger_than_a_page_is_erased_whole() {
    let w = world().await;
    let nurse = w.user(w.clinic.as_str(), "nurse", "nurse").await;
    let actor = w.converse(&nurse, "first").await;
    for i in 0..120 {
        w.stack
            .clients
            .memory
            .create_event()
            .memory_id(local_memory_id("basic"))
            .actor_id(&actor)
            .session_id("session-long-00000000000000000000000000003")
            .event_timestamp(DateTime::from_secs(1_790_000_000 + i))
            .payload(PayloadType::Conversational(
                Conversational::builder()
                    .role(MsgRole::User)
                    .content(Content::Text(format!("note {i}")))
                    .build()
                    .unwrap(),
            ))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(w.held(&actor), (124, 124));
    let lines = w
        .change(
            &nurse,
            UserChange::SetRole {
                role: Role::parse("clinician").unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("124 event(s) and 124 long-term record(s) erased")),
        "{lines:?}"
    );
    assert_eq!(w.held(&actor), (0, 0));
}

/// The memory unreachable half-way: the role is set but the erasure fails with an error that
/// says to run again; the second run finishes it.
#[tokio::test]
async fn an_interrupted_role_change_finishes_when_run_again() {
    let w = world().await;
    let nurse = w.user(w.clinic.as_str(), "nurse", "nurse").await;
    let actor = w.converse(&nurse, "Jane Doe: HbA1c 7.9").await;
    let endpoints = testkit::endpoints_or_panic();
    let mut cut = tenant_admin::apply::Clients::new(&testkit::sdk::config_for(&endpoints.moto_url));
    cut.cognito = w.stack.clients.cognito.clone();
    cut.dynamodb = w.stack.clients.dynamodb.clone();
    cut.memory =
        aws_sdk_bedrockagentcore::Client::new(&testkit::sdk::config_for("http://127.0.0.1:9"));
    let admin = Role::parse("admin").unwrap();
    let failed = w
        .change_with(
            &cut,
            &nurse,
            UserChange::SetRole {
                role: admin.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("AgentCore Memory"), "{failed}");
    assert_eq!(w.held(&actor), (4, 4));
    let lines = w
        .change(&nurse, UserChange::SetRole { role: admin })
        .await
        .unwrap();
    assert!(
        lines.iter().any(|l| l.contains("already admin")),
        "{lines:?}"
    );
    assert_eq!(w.held(&actor), (0, 0));
}

/// A removal signs the user out, erases its memory and deletes it; run again, it is absent.
#[tokio::test]
async fn a_removed_user_leaves_no_memory_and_a_second_run_changes_nothing() {
    let w = world().await;
    let nurse = w.user(w.clinic.as_str(), "nurse", "nurse").await;
    let actor = w.converse(&nurse, "Jane Doe: HbA1c 7.9").await;
    let lines = w.change(&nurse, UserChange::Remove).await.unwrap();
    assert!(lines.iter().any(|l| l.ends_with("deleted")), "{lines:?}");
    assert_eq!(w.held(&actor), (0, 0));
    assert!(w.stack.pool.sign_in(&nurse, PASSWORD).await.is_err());
    let again = w.change(&nurse, UserChange::Remove).await.unwrap();
    assert!(
        again.iter().any(|l| l.contains("already absent")),
        "{again:?}"
    );
}

/// Suspension disables the users that were enabled and records them; a resume enables those
/// and no others: a user an administrator disabled before, or during, the suspension stays
/// disabled. An interrupted suspension run again still knows whom it disabled.
#[tokio::test]
async fn a_resume_enables_only_the_users_its_suspension_disabled() {
    let w = world().await;
    let clinic = w.clinic.as_str();
    let active = w.user(clinic, "active", "nurse").await;
    let disabled_before = w.user(clinic, "before", "nurse").await;
    let disabled_during = w.user(clinic, "during", "nurse").await;
    w.change(&disabled_before, UserChange::Disable)
        .await
        .unwrap();

    // The first run stops after recording whom it will disable (as if interrupted): the
    // users recorded, none disabled yet. Run again, it disables them.
    let registry = w.stack.clients.registry(&w.stack.targets.registry_table);
    registry
        .set_status(&w.clinic, TenantStatus::Suspended)
        .await
        .unwrap();
    registry
        .record_suspended_users(&w.clinic, std::slice::from_ref(&active))
        .await
        .unwrap();
    let n = set_status(&w.stack, &w.clinic, TenantStatus::Suspended).await;
    assert_eq!(n, 3, "the onboarded user, active and during: {n}");
    for u in [&active, &disabled_during, &disabled_before] {
        assert!(
            w.stack.pool.sign_in(u, PASSWORD).await.is_err(),
            "{u} is disabled"
        );
    }
    // Disabled by an administrator while the clinic is suspended.
    w.change(&disabled_during, UserChange::Disable)
        .await
        .unwrap();
    // Nobody is enabled by hand while the clinic is suspended.
    let refused = w.change(&active, UserChange::Enable).await.unwrap_err();
    assert!(refused.to_string().contains("suspended"), "{refused}");

    let n = set_status(&w.stack, &w.clinic, TenantStatus::Active).await;
    assert_eq!(n, 2, "the onboarded user and active");
    assert!(w.stack.pool.sign_in(&active, PASSWORD).await.is_ok());
    assert!(
        w.stack
            .pool
            .sign_in(&disabled_before, PASSWORD)
            .await
            .is_err()
    );
    assert!(
        w.stack
            .pool
            .sign_in(&disabled_during, PASSWORD)
            .await
            .is_err()
    );
    assert!(
        registry
            .suspended_users(&w.clinic)
            .await
            .unwrap()
            .is_empty()
    );
    // An administrator enables one again, by name.
    w.change(&disabled_before, UserChange::Enable)
        .await
        .unwrap();
    assert!(
        w.stack
            .pool
            .sign_in(&disabled_before, PASSWORD)
            .await
            .is_ok()
    );
}

/// Every user command names the clinic, and a user of another clinic is never changed; a
/// user is added once, and an existing user's role changes only through set-role.
#[tokio::test]
async fn user_commands_never_touch_another_clinics_user() {
    let w = world().await;
    let stranger = w.user("clinic-elsewhere", "stranger", "nurse").await;
    let admin = Role::parse("admin").unwrap();
    for change in [
        UserChange::Disable,
        UserChange::Enable,
        UserChange::Remove,
        UserChange::SetRole {
            role: admin.clone(),
        },
    ] {
        let e = w.change(&stranger, change.clone()).await.unwrap_err();
        assert!(
            e.to_string().contains("belongs to clinic-elsewhere"),
            "{change:?}: {e}"
        );
    }
    assert!(w.stack.pool.sign_in(&stranger, PASSWORD).await.is_ok());

    let new = TenantUser::new(
        format!("new@{}.example", w.clinic),
        "nurse",
        None,
        &w.stack.tiers,
    )
    .unwrap();
    let add = |user: TenantUser| UserChange::Add {
        user,
        test_password: true,
    };
    let lines = w.change(&new.username, add(new.clone())).await.unwrap();
    assert!(
        lines.iter().any(|l| l.contains("created (test user)")),
        "{lines:?}"
    );
    let lines = w.change(&new.username, add(new.clone())).await.unwrap();
    assert!(lines.iter().any(|l| l.contains("exists")), "{lines:?}");
    let as_admin = TenantUser {
        role: admin,
        ..new.clone()
    };
    let e = w.change(&new.username, add(as_admin)).await.unwrap_err();
    assert!(e.to_string().contains("set-role"), "{e}");
    // A clinic that is not onboarded.
    let request = UserRequest {
        clinic: ClinicId::parse("clinic-never-onboarded").unwrap(),
        username: new.username.clone(),
        change: UserChange::Disable,
    };
    let e = apply_user(
        &request,
        &w.stack.clients,
        &w.stack.targets,
        &w.stack.tiers,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("onboard it first"), "{e}");
}

/// The dry run lists every step and needs no stack.
#[test]
fn a_dry_run_names_every_step() {
    let tiers = TierCatalog::embedded().unwrap();
    let targets = tenant_admin::Targets::placeholders("tenantry", &tiers);
    let request = UserRequest {
        clinic: ClinicId::parse("clinic-a").unwrap(),
        username: "nurse@clinic-a.example".into(),
        change: UserChange::SetRole {
            role: Role::parse("admin").unwrap(),
        },
    };
    let steps = request.describe(&targets).join("\n");
    for step in [
        "custom:role to admin",
        "sign nurse@clinic-a.example out",
        "erase",
        "<BasicMemoryId>",
    ] {
        assert!(steps.contains(step), "{step}: {steps}");
    }
}
