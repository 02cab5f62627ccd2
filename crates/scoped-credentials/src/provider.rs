//! The AWS SDK credentials provider for one tenant user: SDK clients built with it ask the
//! cache whenever their own identity cache needs credentials, so they refresh by themselves.

use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use tenant_context::TenantContext;

use crate::cache::CredentialCache;
use crate::credentials::{Scope, Secret};
use crate::issuer::{CredentialIssuer, IssueRequest};

pub struct TenantCredentialsProvider<I> {
    cache: Arc<CredentialCache<I>>,
    id_token: Secret,
    tenant: TenantContext,
    scope: Scope,
}

impl<I> TenantCredentialsProvider<I> {
    /// `tenant` must come from verifying `id_token` (tenant-context's `TokenVerifier`).
    pub fn new(
        cache: Arc<CredentialCache<I>>,
        id_token: &str,
        tenant: TenantContext,
        scope: Scope,
    ) -> Self {
        Self {
            cache,
            id_token: Secret::new(id_token),
            tenant,
            scope,
        }
    }
}

impl<I> std::fmt::Debug for TenantCredentialsProvider<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCredentialsProvider")
            .field("tier", &self.tenant.tier().as_str())
            .field("clinic_id", &self.tenant.clinic_id().as_str())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl<I: CredentialIssuer + 'static> ProvideCredentials for TenantCredentialsProvider<I> {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let req = IssueRequest {
                id_token: self.id_token.expose(),
                tenant: &self.tenant,
                scope: self.scope,
            };
            match self.cache.get(req).await {
                Ok(c) => Ok(c.to_aws()),
                Err(e) if e.is_retryable() => Err(CredentialsError::provider_error(e)),
                Err(e) => Err(CredentialsError::not_loaded(e)),
            }
        })
    }
}
