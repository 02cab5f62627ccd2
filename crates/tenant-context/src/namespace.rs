//! AgentCore Memory namespace templates: the tier file's strategies name their namespaces with
//! placeholders that the agent fills in for the verified tenant user.

pub const ACTOR_ID_PLACEHOLDER: &str = "{actorId}";
pub const SESSION_ID_PLACEHOLDER: &str = "{sessionId}";
/// AgentCore's limit on a namespace.
pub const NAMESPACE_TEMPLATE_MAX: usize = 512;

/// Whether a namespace template keeps tenants apart and renders to a valid namespace:
/// `{actorId}` exactly once, followed by `/`; `{sessionId}` at most once, after the actor id
/// and preceded by `/`; every other character from `[A-Za-z0-9/_-]`; and a trailing `/`.
///
/// The trailing `/` matters: AgentCore Memory reads records by namespace *prefix*, so a
/// namespace ending in an id (`/preferences/basic/clinic-a/u-1`) would also reach every
/// namespace that extends it (user `u-12`'s).
pub fn namespace_template_is_valid(template: &str) -> bool {
    if template.is_empty() || template.len() > NAMESPACE_TEMPLATE_MAX || !template.ends_with('/') {
        return false;
    }
    let Some((before_actor, after_actor)) = template.split_once(ACTOR_ID_PLACEHOLDER) else {
        return false;
    };
    if !after_actor.starts_with('/') {
        return false;
    }
    let (middle, after_session) = match after_actor.split_once(SESSION_ID_PLACEHOLDER) {
        Some((m, rest)) if m.ends_with('/') => (m, rest),
        Some(_) => return false,
        None => (after_actor, ""),
    };
    let literal_ok = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
    };
    // The namespace must start with [a-zA-Z0-9/*]; the actor id itself starts with a letter.
    let starts_ok = before_actor
        .chars()
        .next()
        .is_none_or(|c| c.is_ascii_alphanumeric() || c == '/');
    starts_ok && literal_ok(before_actor) && literal_ok(middle) && literal_ok(after_session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_templates() {
        for ok in [
            "/clinical/{actorId}/facts/",
            "/preferences/{actorId}/",
            "/summaries/{actorId}/{sessionId}/",
            "{actorId}/",
            "mem/{actorId}/s/{sessionId}/x/",
        ] {
            assert!(namespace_template_is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "/shared/facts",
            "/a/{actorId}{sessionId}",
            "/a/{actorId}x",
            "/a/{actorId}/{actorId}",
            "/a/{sessionId}/{actorId}",
            "/a b/{actorId}",
            "/a/{actorId}/{other}",
            "-x/{actorId}",
            // Read by prefix: without the trailing `/` a namespace reaches its extensions.
            "/clinical/{actorId}/facts",
            "/preferences/{actorId}",
            "/summaries/{actorId}/{sessionId}",
        ] {
            assert!(!namespace_template_is_valid(bad), "{bad}");
        }
    }
}
