//! What conversation memory may keep and give back, derived from the tier file's rules.
//!
//! Business hours and roles are enforced where a tool runs (the Gateway's Cedar policies and
//! the tool target). Memory sits beside that path: an answer stored after a patient lookup and
//! replayed later would hand the patient's record to a caller the rules now refuse (after
//! hours, a role without patient tools). So the agent asks these rules what a turn may leave
//! in memory and what a caller may get back from it.

use std::collections::BTreeSet;

use crate::{Error, Role, TierCatalog, TierName};

/// The memory rules of one tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallRules {
    guarded_tools: BTreeSet<String>,
    clinical_roles: BTreeSet<Role>,
}

impl RecallRules {
    /// Whether a result of `tool` is guarded by a rule that can refuse the same user later:
    /// the tool is limited to business hours in this tier, or some role may not use it.
    pub fn guards(&self, tool: &str) -> bool {
        self.guarded_tools.contains(tool)
    }

    /// Whether `role` may use at least one guarded tool of this tier, and so may be given
    /// clinical content back from memory. Fails closed: a role the file does not list may not.
    pub fn clinical_role(&self, role: &Role) -> bool {
        self.clinical_roles.contains(role)
    }

    /// The guarded tools, in name order.
    pub fn guarded_tools(&self) -> impl Iterator<Item = &str> {
        self.guarded_tools.iter().map(String::as_str)
    }
}

impl TierCatalog {
    /// The memory rules of `tier`.
    pub fn recall_rules(&self, tier: &TierName) -> Result<RecallRules, Error> {
        let config = self.config(tier)?;
        let hours_bound = |tool: &str| {
            config
                .business_hours
                .as_ref()
                .is_some_and(|bh| bh.tools.iter().any(|t| t == tool))
        };
        let closed_to_a_role =
            |tool: &str| self.roles().any(|(role, _)| !self.role_allows(role, tool));
        let guarded_tools: BTreeSet<String> = config
            .tools
            .iter()
            .filter(|t| hours_bound(t) || closed_to_a_role(t))
            .cloned()
            .collect();
        let clinical_roles = self
            .roles()
            .filter(|(role, _)| guarded_tools.iter().any(|t| self.role_allows(role, t)))
            .map(|(role, _)| role.clone())
            .collect();
        Ok(RecallRules {
            guarded_tools,
            clinical_roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(tier: &str) -> RecallRules {
        let catalog = TierCatalog::embedded().unwrap();
        catalog.recall_rules(&catalog.tier(tier).unwrap()).unwrap()
    }

    #[test]
    fn patient_and_document_tools_are_guarded_and_admins_get_nothing_clinical() {
        let basic = rules("basic");
        let guarded: Vec<&str> = basic.guarded_tools().collect();
        assert_eq!(guarded, ["patient_context", "retrieve_clinic_documents"]);
        let premium = rules("premium");
        let guarded: Vec<&str> = premium.guarded_tools().collect();
        // Premium has no business hours: guarded because admins may not use them.
        assert_eq!(
            guarded,
            ["patient_context", "retrieve_clinic_documents", "web_search"]
        );
        for tier in [&basic, &premium] {
            assert!(!tier.guards("clinic_config"));
            assert!(!tier.guards("current_time"));
            assert!(!tier.clinical_role(&Role::parse("admin").unwrap()));
            assert!(tier.clinical_role(&Role::parse("nurse").unwrap()));
            assert!(!tier.clinical_role(&Role::parse("unlisted").unwrap()));
        }
    }

    #[test]
    fn a_tool_open_to_every_role_is_guarded_only_by_business_hours() {
        // The shipped file with admins given every tool: only business hours guard then.
        let mut file: serde_json::Value = serde_json::from_str(crate::EMBEDDED_TIER_FILE).unwrap();
        file["roles"]["admin"]["tools"] = file["roles"]["clinician"]["tools"].clone();
        let catalog = TierCatalog::from_json(&file.to_string()).unwrap();
        let rules = catalog
            .recall_rules(&catalog.tier("basic").unwrap())
            .unwrap();
        assert!(rules.guards("patient_context"));
        assert!(!rules.guards("clinic_config"));
        assert!(rules.clinical_role(&Role::parse("admin").unwrap()));
        let premium = catalog
            .recall_rules(&catalog.tier("premium").unwrap())
            .unwrap();
        assert_eq!(premium.guarded_tools().count(), 0);
    }
}
