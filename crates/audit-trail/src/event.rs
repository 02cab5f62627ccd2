//! One audit event: who reached (or tried to reach) which patient data, through what, and what
//! was decided. Identifiers only: never a patient field, a document's text or a prompt.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tenant_context::{ClinicId, TenantContext};

/// The event format; a reader skips versions it does not know.
pub const SCHEMA_VERSION: u8 = 1;

/// What reached patient data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The `patient_context` tool (one patient, or a page of the clinic's patients).
    PatientContext,
    /// The `retrieve_clinic_documents` tool (the clinic's documents in its knowledge base).
    RetrieveClinicDocuments,
    /// Long-term memory recall that brought clinical facts back into a turn.
    MemoryRecall,
}

impl Access {
    /// The audited access a Gateway tool name stands for; `None` for tools that reach no
    /// patient data (`clinic_config`, `current_time`, `web_search`).
    pub fn of_tool(tool: &str) -> Option<Self> {
        match tool {
            "patient_context" => Some(Self::PatientContext),
            "retrieve_clinic_documents" => Some(Self::RetrieveClinicDocuments),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientContext => "patient_context",
            Self::RetrieveClinicDocuments => "retrieve_clinic_documents",
            Self::MemoryRecall => "memory_recall",
        }
    }
}

/// The layer that refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeniedBy {
    /// The AgentCore Gateway's Cedar policy engine (recorded by the agent, which sees it).
    GatewayPolicy,
    /// The tool target's own checks: the verified token against the tenant headers and the
    /// target's tier, the clinic being served, the tier's tools, the arguments.
    ToolTarget,
    /// The tier's business hours, by the clinic's clock (a claimed hour that is not the
    /// clinic's included).
    BusinessHours,
    /// The user's role may not use the tool.
    Role,
}

/// What was decided. `Failed`: allowed, but nothing came back (no such patient, a service
/// unavailable), so no patient data was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    Denied { denied_by: DeniedBy, reason: String },
    Failed { reason: String },
}

/// The component that made the decision and wrote the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorder {
    ToolTarget,
    Agent,
}

/// One audit event, as stored (one JSON object per CloudWatch Logs event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub v: u8,
    /// Random, 128 bits: the trail's key against duplicates (PutLogEvents has no idempotency
    /// token, so a retried write can store an event twice; readers drop the repeat).
    pub event_id: String,
    #[serde(with = "millis")]
    pub time: DateTime<Utc>,
    pub tier: String,
    pub clinic_id: String,
    /// The user's `sub`.
    pub user: String,
    pub role: String,
    /// The runtime session's short hash (never the raw id), when the writer knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub access: Access,
    /// Patients asked for (a denied or failed call) or returned (an allowed one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patient_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub document_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_record_ids: Vec<String>,
    #[serde(flatten)]
    pub decision: Decision,
    pub recorded_by: Recorder,
}

impl AuditEvent {
    /// An event for `tenant`'s access, at `time`, with a fresh id. The tenant is the verified
    /// one: nothing of a tool's arguments ever names the clinic, the user or the role here.
    pub fn new(
        tenant: &TenantContext,
        access: Access,
        decision: Decision,
        recorded_by: Recorder,
        time: DateTime<Utc>,
    ) -> Result<Self, crate::AuditError> {
        Ok(Self {
            v: SCHEMA_VERSION,
            event_id: new_event_id()?,
            time,
            tier: tenant.tier().to_string(),
            clinic_id: tenant.clinic_id().to_string(),
            user: tenant.user().to_string(),
            role: tenant.role().to_string(),
            session: None,
            access,
            patient_ids: Vec::new(),
            document_ids: Vec::new(),
            memory_record_ids: Vec::new(),
            decision,
            recorded_by,
        })
    }

    pub fn with_session(mut self, session: Option<String>) -> Self {
        self.session = session;
        self
    }

    pub fn with_patients(mut self, ids: Vec<String>) -> Self {
        self.patient_ids = ids;
        self
    }

    pub fn with_documents(mut self, ids: Vec<String>) -> Self {
        self.document_ids = ids;
        self
    }

    pub fn with_memory_records(mut self, ids: Vec<String>) -> Self {
        self.memory_record_ids = ids;
        self
    }

    /// The log stream this event goes to: the clinic's stream of the event's UTC day.
    pub fn stream_name(&self) -> String {
        format!(
            "{}{}",
            stream_prefix_of(&self.clinic_id),
            self.time.date_naive().format("%Y-%m-%d")
        )
    }

    /// The stored form: one JSON object on one line.
    pub fn to_message(&self) -> Result<String, crate::AuditError> {
        serde_json::to_string(self).map_err(|e| crate::AuditError::Encode(e.to_string()))
    }
}

/// The prefix of every stream of `clinic`: `clinic/<id>/`. The trailing `/` is what keeps
/// `clinic/a` from also matching `clinic/a2`'s streams.
pub fn stream_prefix(clinic: &ClinicId) -> String {
    stream_prefix_of(clinic.as_str())
}

fn stream_prefix_of(clinic: &str) -> String {
    format!("clinic/{clinic}/")
}

/// The UTC day of `time`, as the streams name it.
pub fn day_of(time: DateTime<Utc>) -> NaiveDate {
    time.date_naive()
}

fn new_event_id() -> Result<String, crate::AuditError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| crate::AuditError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// RFC 3339 in UTC with milliseconds (CloudWatch Logs keeps milliseconds).
pub(crate) mod millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tenant_context::TierCatalog;

    fn tenant(clinic: &str) -> TenantContext {
        let catalog = TierCatalog::embedded().unwrap();
        TenantContext::parse(&catalog, "basic", clinic, "u-1", "clinician").unwrap()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 30, 0)
            .single()
            .unwrap()
    }

    #[test]
    fn an_event_is_one_json_line_of_identifiers_and_reads_back_the_same() {
        let e = AuditEvent::new(
            &tenant("clinic-a"),
            Access::PatientContext,
            Decision::Denied {
                denied_by: DeniedBy::BusinessHours,
                reason: "outside_business_hours".into(),
            },
            Recorder::ToolTarget,
            at(),
        )
        .unwrap()
        .with_session(Some("0a1b2c3d4e5f".into()))
        .with_patients(vec!["p-1001\"}\n{\"clinic_id\":\"clinic-b\"".into()]);
        let line = e.to_message().unwrap();
        assert!(!line.contains('\n'), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["decision"], "denied");
        assert_eq!(v["denied_by"], "business_hours");
        assert_eq!(v["clinic_id"], "clinic-a");
        assert_eq!(v["time"], "2026-12-07T09:30:00.000Z");
        assert_eq!(serde_json::from_str::<AuditEvent>(&line).unwrap(), e);
        assert_eq!(e.stream_name(), "clinic/clinic-a/2026-12-07");
    }

    #[test]
    fn event_ids_are_fresh_and_128_bits() {
        let make = || {
            AuditEvent::new(
                &tenant("clinic-a"),
                Access::MemoryRecall,
                Decision::Allowed,
                Recorder::Agent,
                at(),
            )
            .unwrap()
        };
        let (a, b) = (make(), make());
        assert_eq!(a.event_id.len(), 32);
        assert_ne!(a.event_id, b.event_id);
    }

    #[test]
    fn only_the_patient_data_tools_are_audited() {
        assert_eq!(
            Access::of_tool("patient_context"),
            Some(Access::PatientContext)
        );
        assert_eq!(
            Access::of_tool("retrieve_clinic_documents"),
            Some(Access::RetrieveClinicDocuments)
        );
        for t in [
            "clinic_config",
            "current_time",
            "web_search",
            "Patient_Context",
        ] {
            assert_eq!(Access::of_tool(t), None, "{t}");
        }
    }

    #[test]
    fn a_clinics_prefix_never_matches_a_longer_clinic_id() {
        let a = stream_prefix(&ClinicId::parse("clinic-a").unwrap());
        assert!(!"clinic/clinic-a2/2026-12-07".starts_with(&a));
        assert!("clinic/clinic-a/2026-12-07".starts_with(&a));
    }
}
