//! Every emulation of an AWS API refuses what AWS's own service model refuses (botocore's,
//! pinned with the stand-ins): for each operation it serves, a valid request passes the model,
//! and every request made from it by breaking one constraint (a required member left out, a
//! length, a pattern, an enum, a range, a list size) is refused with the service's error code
//! before the emulation acts on it. One line per API: `N of N refused`.

use base64::Engine as _;
use emulators::aws_model::layer::REFUSED_BY_MODEL;
use emulators::aws_model::mutations::mutations;
use emulators::aws_model::{HttpRequest, ServiceModel, serialize};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Api<'a> {
    label: &'a str,
    service: &'a str,
    endpoint: String,
    /// (operation, a valid input)
    operations: Vec<(&'a str, Value)>,
    /// What the request needs besides its members (a signature's scope, for the front).
    sign: fn(HttpRequest) -> HttpRequest,
}

fn unsigned(req: HttpRequest) -> HttpRequest {
    req
}

/// (status, error type, whether the model check gave it)
async fn send(client: &reqwest::Client, endpoint: &str, req: &HttpRequest) -> (u16, String, bool) {
    let mut url = format!("{endpoint}{}", req.path);
    if !req.query.is_empty() {
        url.push('?');
        url.push_str(&req.query);
    }
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("method");
    let mut builder = client.request(method, url).body(req.body.clone());
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let resp = builder.send().await.expect("the emulation answers");
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let by_model = resp.headers().contains_key(REFUSED_BY_MODEL);
    (status, kind, by_model)
}

/// Sends each operation's valid request (which the model must pass) and every mutation of
/// it (which the emulation must refuse); returns the accepted mutations.
async fn sweep(api: Api<'_>) {
    let model = ServiceModel::load(api.service).unwrap_or_else(|e| panic!("{e}"));
    let client = reqwest::Client::new();
    let (mut total, mut refused) = (0, 0);
    let mut accepted = Vec::new();
    for (name, valid) in &api.operations {
        let op = model.operation(name).unwrap();
        let code = model.validation_error_code(op);
        let (status, kind, by_model) = send(
            &client,
            &api.endpoint,
            &(api.sign)(serialize(&model, op, valid)),
        )
        .await;
        assert!(
            !by_model,
            "{}: the valid {name} request was refused by the model ({status} {kind})",
            api.label
        );
        for m in mutations(&model, op, valid) {
            total += 1;
            let (status, kind, by_model) = send(
                &client,
                &api.endpoint,
                &(api.sign)(serialize(&model, op, &m.input)),
            )
            .await;
            // A label broken out of its path segment is no operation at all (404).
            if by_model
                && ((status == 400 && kind == code)
                    || (status == 404 && kind == "UnknownOperationException"))
            {
                refused += 1;
            } else {
                accepted.push(format!("{name} {}: {status} {kind}", m.description));
            }
        }
    }
    println!(
        "{}: {refused} of {total} requests breaking one constraint of {} (botocore {}) refused",
        api.label, api.service, model.botocore_version
    );
    assert!(total > 0, "{}: no constraint to break", api.label);
    assert!(accepted.is_empty(), "{}: accepted {accepted:#?}", api.label);
}

#[tokio::test]
async fn memory_refuses_what_the_bedrock_agentcore_model_refuses() {
    let memory_id = emulators::memory::local_memory_id("basic");
    let memory = emulators::memory::MemoryEmulation::start(
        vec![emulators::memory::MemoryDefinition {
            memory_id: memory_id.clone(),
            namespaces: vec!["/facts/{actorId}/".into()],
        }],
        0,
    )
    .await
    .unwrap();
    let actor = "basic/clinic-a/3f9a1c52-0000-4000-8000-000000000001";
    sweep(Api {
        label: "AgentCore Memory",
        service: "bedrock-agentcore",
        endpoint: memory.endpoint(),
        operations: vec![
            (
                "CreateEvent",
                json!({
                    "memoryId": memory_id, "actorId": actor, "sessionId": "s-1",
                    "eventTimestamp": 1_796_551_200,
                    "payload": [{ "conversational": { "content": { "text": "hello" }, "role": "USER" } }],
                    "metadata": { "source": { "stringValue": "chat" } }
                }),
            ),
            (
                "ListEvents",
                json!({ "memoryId": memory_id, "actorId": actor, "sessionId": "s-1", "includePayloads": true, "maxResults": 5 }),
            ),
            (
                "RetrieveMemoryRecords",
                json!({
                    "memoryId": memory_id, "namespace": format!("/facts/{actor}/"),
                    "searchCriteria": { "searchQuery": "allergies", "topK": 3 }, "maxResults": 5
                }),
            ),
        ],
        sign: unsigned,
    })
    .await;
    let checks = memory.model_checks();
    assert!(
        !checks.refused().is_empty(),
        "refusals are recorded for the tests to read"
    );
    assert!(checks.checked() > checks.refused().len() as u64);
}

#[tokio::test]
async fn the_knowledge_base_refuses_what_the_bedrock_agent_runtime_model_refuses() {
    let catalog = tenant_context::TierCatalog::embedded().unwrap();
    let kb = emulators::knowledge_base::KnowledgeBaseEmulation::start(
        emulators::knowledge_base::demo_sources(&catalog),
        0,
    )
    .await
    .unwrap();
    sweep(Api {
        label: "Knowledge Base Retrieve",
        service: "bedrock-agent-runtime",
        endpoint: kb.endpoint(),
        operations: vec![(
            "Retrieve",
            json!({
                "knowledgeBaseId": emulators::knowledge_base::demo_knowledge_base_id("basic"),
                "retrievalQuery": { "text": "blood pressure" },
                "retrievalConfiguration": { "vectorSearchConfiguration": {
                    "numberOfResults": 5,
                    "filter": { "equals": { "key": "clinic_id", "value": "clinic-a" } }
                }},
                "nextToken": "t"
            }),
        )],
        sign: unsigned,
    })
    .await;
}

#[tokio::test]
async fn guardrails_refuse_what_the_bedrock_runtime_model_refuses() {
    let guardrail = emulators::guardrail::GuardrailEmulation::start(
        emulators::guardrail::LOCAL_GUARDRAIL_ID,
        emulators::guardrail::LOCAL_GUARDRAIL_VERSION,
        0,
    )
    .await
    .unwrap();
    sweep(Api {
        label: "ApplyGuardrail",
        service: "bedrock-runtime",
        endpoint: guardrail.endpoint(),
        operations: vec![(
            "ApplyGuardrail",
            json!({
                "guardrailIdentifier": emulators::guardrail::LOCAL_GUARDRAIL_ID,
                "guardrailVersion": emulators::guardrail::LOCAL_GUARDRAIL_VERSION,
                "source": "INPUT",
                "content": [{ "text": { "text": "What is the dose?" } }],
                "outputScope": "INTERVENTIONS"
            }),
        )],
        sign: unsigned,
    })
    .await;
}

#[tokio::test]
async fn the_runtime_front_refuses_what_invoke_agent_runtime_refuses() {
    let iam = emulators::iam::SigV4Check::new(
        "bedrock-agentcore",
        testkit::STANDIN_REGION,
        &[emulators::iam::LocalPrincipal::request_proxy()],
        &[],
    );
    let runtime = emulators::runtime::RuntimeEmulation::start(Vec::new(), iam, 0)
        .await
        .unwrap();
    sweep(Api {
        label: "InvokeAgentRuntime",
        service: "bedrock-agentcore",
        endpoint: runtime.endpoint(),
        operations: vec![(
            "InvokeAgentRuntime",
            json!({
                "agentRuntimeArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/tenantry_basic-LOCALSTAND",
                "qualifier": "DEFAULT",
                "runtimeSessionId": "s".repeat(40),
                "contentType": "application/json",
                "accept": "text/event-stream, application/json",
                "payload": B64.encode(b"{\"prompt\":\"hi\"}"),
                "traceParent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "accountId": "123456789012"
            }),
        )],
        sign: unsigned,
    })
    .await;
}

#[tokio::test]
async fn the_lambda_invoke_api_refuses_what_the_lambda_model_refuses() {
    let api = emulators::lambda_api::LambdaInvokeApi::start(Vec::new())
        .await
        .unwrap();
    sweep(Api {
        label: "Lambda Invoke",
        service: "lambda",
        endpoint: api.endpoint_url(),
        operations: vec![(
            "Invoke",
            json!({
                "FunctionName": "tool-target",
                "InvocationType": "RequestResponse",
                "LogType": "None",
                "Qualifier": "$LATEST",
                "ClientContext": B64.encode(b"{\"custom\":{}}"),
                "TenantId": "clinic-a",
                "Payload": B64.encode(b"{}")
            }),
        )],
        sign: unsigned,
    })
    .await;
    // Not a constraint of the model but of the Invoke API's documentation: at most 3,583
    // bytes of client context.
    let model = ServiceModel::load("lambda").unwrap();
    let op = model.operation("Invoke").unwrap();
    let too_big = B64.encode(format!("{{\"custom\":{{\"x\":\"{}\"}}}}", "a".repeat(2700)));
    assert!(too_big.len() > emulators::lambda_api::MAX_CLIENT_CONTEXT_BYTES);
    let req = serialize(
        &model,
        op,
        &json!({ "FunctionName": "tool-target", "ClientContext": too_big, "Payload": B64.encode(b"{}") }),
    );
    let (status, kind, _) = send(&reqwest::Client::new(), &api.endpoint_url(), &req).await;
    assert_eq!(
        (status, kind.as_str()),
        (400, "InvalidParameterValueException")
    );
}

/// The moto stand-in serves API Gateway's key and usage-plan calls; its front (started by
/// scripts/standins.sh) checks them against the `apigateway` model before moto sees them.
#[tokio::test]
async fn the_api_gateway_stand_in_refuses_what_the_apigateway_model_refuses() {
    let endpoints = testkit::endpoints_or_panic();
    fn signed(mut req: HttpRequest) -> HttpRequest {
        req.headers.push((
            "authorization".into(),
            "AWS4-HMAC-SHA256 Credential=standin/20261206/us-east-1/apigateway/aws4_request, SignedHeaders=host, Signature=0".into(),
        ));
        req
    }
    let plan = format!("aws-models-{}", std::process::id());
    sweep(Api {
        label: "API Gateway keys and usage plans (moto behind the front)",
        service: "apigateway",
        endpoint: endpoints.moto_url.clone(),
        operations: vec![
            (
                "CreateUsagePlan",
                json!({
                    "name": plan, "throttle": { "burstLimit": 5, "rateLimit": 2.0 },
                    "quota": { "limit": 50, "offset": 0, "period": "DAY" }
                }),
            ),
            ("CreateUsagePlanKey", json!({ "usagePlanId": "p1", "keyId": "k1", "keyType": "API_KEY" })),
            (
                "UpdateApiKey",
                json!({ "apiKey": "k1", "patchOperations": [{ "op": "replace", "path": "/enabled", "value": "false" }] }),
            ),
            ("DeleteUsagePlanKey", json!({ "usagePlanId": "p1", "keyId": "k1" })),
        ],
        sign: signed,
    })
    .await;
}
