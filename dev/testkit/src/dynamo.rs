//! The demo tables on the DynamoDB stand-in (dynalite): PatientMetadata (clinic_id HASH,
//! patient_id RANGE) and ClinicConfig (clinic_id HASH), loaded with the synthetic demo data.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};

use crate::endpoints::{ENV_DYNAMODB_URL, Endpoints};
use crate::error::Error;
use crate::sdk::config_for;
use crate::tenants::{Attribute, DemoPatients, demo_tenants};

/// Names of a freshly created pair of demo tables.
#[derive(Debug, Clone)]
pub struct LocalTables {
    pub patient_table: String,
    pub clinic_table: String,
}

/// A DynamoDB client for the stand-in (static credentials; dynalite checks no IAM).
pub fn client(endpoints: &Endpoints) -> Result<Client, Error> {
    let url = endpoints.dynamodb_url.as_deref().ok_or(Error::NoDynamo {
        var: ENV_DYNAMODB_URL,
    })?;
    Ok(Client::new(&config_for(url)))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, Error> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(Error::call("key schema"))
}

fn string_attr(name: &str) -> Result<AttributeDefinition, Error> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(Error::call("attribute definition"))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|x| s(x)).collect())
}

async fn wait_active(ddb: &Client, table: &str) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = ddb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(Error::call("DescribeTable"))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::MissingField {
                op: "DescribeTable",
                what: "ACTIVE status within 30 s",
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Creates a table (on-demand, string keys) and waits until it is active: tables are created
/// asynchronously (CREATING, then ACTIVE) on the stand-in as on AWS, and the SDK's waiter
/// starts at a 20 s delay while the stand-in is ready in well under a second.
async fn create_table(
    ddb: &Client,
    table: &str,
    hash: &str,
    range: Option<&str>,
) -> Result<(), Error> {
    let mut create = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attr(hash)?)
        .key_schema(key(hash, KeyType::Hash)?);
    if let Some(range) = range {
        create = create
            .attribute_definitions(string_attr(range)?)
            .key_schema(key(range, KeyType::Range)?);
    }
    create.send().await.map_err(Error::call("CreateTable"))?;
    wait_active(ddb, table).await
}

pub(crate) fn unique_suffix() -> String {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{unique:x}")
}

/// Creates `<prefix>-<unique>-PatientMetadata` and `...-ClinicConfig` and loads the demo
/// data. Unique names let tests run in parallel, and again, against one stand-in.
pub async fn create_and_load(endpoints: &Endpoints, prefix: &str) -> Result<LocalTables, Error> {
    let ddb = client(endpoints)?;
    let unique = unique_suffix();
    let tables = LocalTables {
        patient_table: format!("{prefix}-{unique}-PatientMetadata"),
        clinic_table: format!("{prefix}-{unique}-ClinicConfig"),
    };
    create_table(&ddb, &tables.patient_table, "clinic_id", Some("patient_id")).await?;
    create_table(&ddb, &tables.clinic_table, "clinic_id", None).await?;
    for clinic in demo_tenants()? {
        ddb.put_item()
            .table_name(&tables.clinic_table)
            .item("clinic_id", s(clinic.clinic_id.as_str()))
            .item("name", s(&clinic.name))
            .item("tier", s(clinic.tier.as_str()))
            .item("timezone", s(&clinic.timezone))
            .send()
            .await
            .map_err(Error::call("PutItem ClinicConfig"))?;
    }
    for p in DemoPatients::embedded()?.patients {
        let mut put = ddb
            .put_item()
            .table_name(&tables.patient_table)
            .item("clinic_id", s(&p.clinic_id));
        for (name, value) in &p.attributes {
            put = put.item(
                name,
                match value {
                    Attribute::Text(t) => s(t),
                    Attribute::List(l) => list(l),
                },
            );
        }
        put.send()
            .await
            .map_err(Error::call("PutItem PatientMetadata"))?;
    }
    Ok(tables)
}

/// One TenantRegistry row.
pub struct RegistryEntry<'a> {
    pub clinic_id: &'a str,
    pub tier: &'a str,
    pub status: tenant_registry::TenantStatus,
    pub api_key_id: &'a str,
}

/// Creates `<prefix>-<unique>-TenantRegistry` (clinic_id HASH) with these rows, written as
/// tenant-admin writes them; returns its name.
pub async fn create_registry(
    endpoints: &Endpoints,
    prefix: &str,
    entries: &[RegistryEntry<'_>],
) -> Result<String, Error> {
    let ddb = client(endpoints)?;
    let table = format!("{prefix}-{}-TenantRegistry", unique_suffix());
    create_table(&ddb, &table, tenant_registry::ATTR_CLINIC, None).await?;
    let registry = tenant_registry::TenantRegistry::new(ddb, &table);
    for e in entries {
        registry
            .put(
                &tenant_registry::TenantRow {
                    clinic_id: tenant_context::ClinicId::parse(e.clinic_id)?,
                    tier: e.tier.to_owned(),
                    status: e.status,
                    api_key_id: e.api_key_id.to_owned(),
                    token_budget: None,
                    tier_change_to: None,
                    retired_at: None,
                },
                false,
            )
            .await
            .map_err(Error::call("PutItem TenantRegistry"))?;
    }
    Ok(table)
}

/// A registry with every demo clinic active on its tier (as after onboarding); its name.
pub async fn create_demo_registry(endpoints: &Endpoints, prefix: &str) -> Result<String, Error> {
    let tenants = demo_tenants()?;
    let entries: Vec<RegistryEntry<'_>> = tenants
        .iter()
        .map(|t| RegistryEntry {
            clinic_id: t.clinic_id.as_str(),
            tier: t.tier.as_str(),
            status: tenant_registry::TenantStatus::Active,
            api_key_id: "local-demo-key",
        })
        .collect();
    create_registry(endpoints, prefix, &entries).await
}

/// Creates `<prefix>-<unique>-Usage` (clinic_id HASH, day RANGE: the template's usage table);
/// returns its name.
pub async fn create_usage_table(endpoints: &Endpoints, prefix: &str) -> Result<String, Error> {
    let ddb = client(endpoints)?;
    let table = format!("{prefix}-{}-Usage", unique_suffix());
    create_table(&ddb, &table, "clinic_id", Some("day")).await?;
    Ok(table)
}
