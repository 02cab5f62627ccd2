//! The trail in CloudWatch Logs: one event per PutLogEvents call (a Lambda may be frozen as soon
//! as it answers, so nothing is held back for a batch), read back with FilterLogEvents over the
//! clinic's stream prefix.

use std::collections::HashSet;
use std::sync::Mutex;

use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use tenant_context::ClinicId;

use crate::{AuditError, AuditEvent, AuditQuery, SCHEMA_VERSION, stream_prefix};

/// FilterLogEvents calls per page at most: a page can come back "partially full, or even
/// empty" with a token to go on, and the patient filter is applied here.
pub const MAX_FETCHES: usize = 5;

pub struct AuditLog {
    client: logs::Client,
    group: String,
    /// Streams this process has created (or found existing): CreateLogStream once each.
    streams: Mutex<HashSet<String>>,
}

/// One page of a clinic's trail, oldest first.
#[derive(Debug, Default)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// CloudWatch Logs' token to go on (seal it before it leaves the process).
    pub next: Option<String>,
    /// Events in the clinic's streams that are not audit events this reader knows (another
    /// format version, or not JSON), or that name another clinic: left out, and counted.
    pub skipped: usize,
}

impl AuditLog {
    /// `sdk`: region, credentials (the function's own role) and endpoint
    /// (`AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` locally).
    pub fn new(sdk: &aws_types::SdkConfig, group: impl Into<String>) -> Self {
        Self {
            client: logs::Client::new(sdk),
            group: group.into(),
            streams: Mutex::new(HashSet::new()),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Records `event`; `Ok` only once CloudWatch Logs has accepted it.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let stream = event.stream_name();
        let message = event.to_message()?;
        if !self.known(&stream) {
            self.create_stream(&stream).await?;
        }
        let out = match self.put(&stream, &message, event).await {
            // The stream this process created is gone (a stand-in restarted, say): once more.
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                self.forget(&stream);
                self.create_stream(&stream).await?;
                self.put(&stream, &message, event).await
            }
            other => other,
        };
        out.map_err(unavailable("PutLogEvents"))?
    }

    async fn put(
        &self,
        stream: &str,
        message: &str,
        event: &AuditEvent,
    ) -> Result<
        Result<(), AuditError>,
        logs::error::SdkError<logs::operation::put_log_events::PutLogEventsError>,
    > {
        let input = InputLogEvent::builder()
            .timestamp(event.time.timestamp_millis())
            .message(message)
            .build()
            .map_err(logs::error::SdkError::construction_failure)?;
        let out = self
            .client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .log_events(input)
            .send()
            .await?;
        // A 200 can still keep events out, one by one (too new, too old, expired).
        Ok(match out.rejected_log_events_info() {
            Some(r) if r.too_new_log_event_start_index().is_some() => {
                Err(AuditError::Rejected("too far in the future"))
            }
            Some(r) if r.too_old_log_event_end_index().is_some() => {
                Err(AuditError::Rejected("too old"))
            }
            Some(r) if r.expired_log_event_end_index().is_some() => {
                Err(AuditError::Rejected("older than the retention"))
            }
            _ => Ok(()),
        })
    }

    async fn create_stream(&self, stream: &str) -> Result<(), AuditError> {
        match self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .send()
            .await
        {
            Ok(_) => {}
            // Another writer created it first: as good.
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {}
            Err(e) => return Err(unavailable("CreateLogStream")(e)),
        }
        if let Ok(mut s) = self.streams.lock() {
            s.insert(stream.to_owned());
        }
        Ok(())
    }

    fn known(&self, stream: &str) -> bool {
        self.streams.lock().is_ok_and(|s| s.contains(stream))
    }

    fn forget(&self, stream: &str) {
        if let Ok(mut s) = self.streams.lock() {
            s.remove(stream);
        }
    }

    /// A page of `clinic`'s events answering `query`, from CloudWatch Logs' token `after`.
    /// Only `clinic`'s streams are searched (the prefix `clinic/<id>/`), and every event is
    /// checked to name `clinic` besides; repeats of one event (a retried write) are dropped. A
    /// page holds fewer than twice `query.limit` events, possibly none with more to come.
    pub async fn read(
        &self,
        clinic: &ClinicId,
        query: &AuditQuery,
        after: Option<String>,
    ) -> Result<AuditPage, AuditError> {
        let mut page = AuditPage::default();
        let mut seen = HashSet::new();
        let mut next = after;
        for _ in 0..MAX_FETCHES {
            let out = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .log_stream_name_prefix(stream_prefix(clinic))
                .start_time(query.from.timestamp_millis())
                .end_time(query.to.timestamp_millis())
                .limit(query.limit as i32)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(unavailable("FilterLogEvents"))?;
            for e in out.events() {
                let Some(event) = e
                    .message()
                    .and_then(|m| serde_json::from_str::<AuditEvent>(m).ok())
                    .filter(|ev| ev.v == SCHEMA_VERSION && ev.clinic_id == clinic.as_str())
                else {
                    page.skipped += 1;
                    continue;
                };
                if query.matches(&event) && seen.insert(event.event_id.clone()) {
                    page.events.push(event);
                }
            }
            next = out.next_token().map(str::to_owned);
            if next.is_none() || page.events.len() >= query.limit as usize {
                break;
            }
        }
        page.events.sort_by_key(|e| e.time);
        page.next = next;
        Ok(page)
    }
}

fn unavailable<E: ProvideErrorMetadata>(operation: &'static str) -> impl FnOnce(E) -> AuditError {
    move |e| AuditError::Unavailable {
        operation,
        code: e.code().unwrap_or("unreachable").to_owned(),
    }
}
