//! The checked-in template: up to date with its sources, and holding the properties the
//! isolation design depends on. Values are compared with the tier file read as plain JSON here,
//! independently of the generator's own reading of it.

use serde_json::Value;

const TEMPLATE: &str = include_str!("../../../infra/template.json");
const EDGE_TEMPLATE: &str = include_str!("../../../infra/edge-template.json");
const TIERS: &str = include_str!("../../../infra/tiers.json");
const TOOL_SCHEMA: &str = include_str!("../../../infra/gateway/tool-target-schema.json");

fn template() -> Value {
    serde_json::from_str(TEMPLATE).expect("infra/template.json is JSON")
}

fn tiers() -> Vec<(String, Value)> {
    let file: Value = serde_json::from_str(TIERS).expect("tiers.json");
    file["tiers"]
        .as_object()
        .expect("tiers")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn resources_of<'a>(t: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// The resource of `kind` tagged with `Tier = tier` (tags as a list or a map).
fn of_tier<'a>(t: &'a Value, kind: &str, tier: &str) -> &'a Value {
    let found: Vec<_> = resources_of(t, kind)
        .into_iter()
        .filter(|(_, r)| {
            let tags = &r["Properties"]["Tags"];
            tags["Tier"] == tier
                || tags
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x["Key"] == "Tier" && x["Value"] == tier))
        })
        .map(|(_, r)| r)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} for tier {tier}");
    found[0]
}

fn pascal(tier: &str) -> String {
    let mut c = tier.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

#[test]
fn checked_in_template_is_the_fresh_rendering() {
    let inputs = infra_template::Inputs::shipped().expect("inputs");
    let fresh = infra_template::render_text(&inputs).expect("render");
    assert!(
        fresh == TEMPLATE,
        "infra/template.json is out of date: run `cargo run -p infra-template`"
    );
    let edge = infra_template::render_edge_text().expect("render the edge");
    assert!(
        edge == EDGE_TEMPLATE,
        "infra/edge-template.json is out of date: run `cargo run -p infra-template`"
    );
}

#[test]
fn usage_plans_are_the_tier_files_rates_and_quotas() {
    let t = template();
    let plans = resources_of(&t, "AWS::ApiGateway::UsagePlan");
    assert_eq!(plans.len(), tiers().len(), "one usage plan per tier");
    for (tier, config) in tiers() {
        let p = &of_tier(&t, "AWS::ApiGateway::UsagePlan", &tier)["Properties"];
        let plan = &config["usage_plan"];
        // RateLimit is a double in API Gateway (2 and 2.0 are the same rate).
        assert_eq!(
            p["Throttle"]["RateLimit"].as_f64(),
            plan["rate_limit"].as_f64(),
            "{tier}"
        );
        assert_eq!(p["Throttle"]["BurstLimit"], plan["burst_limit"], "{tier}");
        assert_eq!(p["Quota"]["Limit"], plan["quota"]["limit"], "{tier}");
        assert_eq!(p["Quota"]["Period"], plan["quota"]["period"], "{tier}");
        assert_eq!(p["ApiStages"][0]["ApiId"]["Ref"], "RestApi");
    }
}

#[test]
fn runtimes_memories_and_knowledge_bases_follow_the_tier_file() {
    let t = template();
    for (tier, config) in tiers() {
        let runtime = &of_tier(&t, "AWS::BedrockAgentCore::Runtime", &tier)["Properties"];
        let env = &runtime["EnvironmentVariables"];
        assert_eq!(env["TENANTRY_TIER"], tier.as_str());
        assert_eq!(env["TENANTRY_MODEL_ID"], config["model_id"], "{tier}");
        assert_eq!(
            env["TENANTRY_BEDROCK_PROJECT_PARAMETER"],
            config["bedrock_project"]["ssm_parameter"]
        );
        // Documents are read by the tool target only: the runtime learns no knowledge base.
        assert!(env.get("TENANTRY_KNOWLEDGE_BASE_PARAMETER").is_none());
        assert_eq!(
            t["Resources"]["ToolTargetFunction"]["Properties"]["Environment"]["Variables"]
                [format!("TENANTRY_KNOWLEDGE_BASE_{}", tier.to_ascii_uppercase())]["Fn::GetAtt"][0],
            format!("{}KnowledgeBase", pascal(&tier))
        );
        // The runtime reaches the model on the bedrock-mantle endpoint with short-term keys from
        // its role: inference in the tier's own project only (by the tags bedrock-projects.sh
        // sets), no Bedrock model-invocation grant.
        assert_eq!(env["TENANTRY_MODEL_AUTH"], "role");
        assert!(env.get("TENANTRY_MODEL_API_KEY").is_none());
        let role = &t["Resources"][format!("{}RuntimeRole", pascal(&tier))];
        let statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements");
        let inference = statements
            .iter()
            .find(|s| {
                s["Action"]
                    .to_string()
                    .contains("bedrock-mantle:CreateInference")
            })
            .expect("inference statement");
        assert_eq!(
            inference["Condition"]["StringEquals"]["aws:ResourceTag/Tier"], tier,
            "{inference}"
        );
        assert_eq!(
            inference["Condition"]["StringEquals"]["aws:ResourceTag/Application"], "tenantry",
            "{inference}"
        );
        let inference = inference.to_string();
        assert!(inference.contains(":project/*"), "{inference}");
        // Logs: the role writes to its own runtime's log groups, and to the audit trail's
        // clinic streams (append only, with the trail's Deny guards); nothing else.
        let logs: Vec<_> = statements
            .iter()
            .filter(|s| s["Action"].to_string().contains("logs:"))
            .filter(|s| s["Effect"] == "Allow" && s["Sid"] != "WriteTheAuditTrail")
            .collect();
        assert_eq!(logs.len(), 1);
        let audit = statements
            .iter()
            .find(|s| s["Sid"] == "WriteTheAuditTrail")
            .expect("the audit trail's writes");
        assert_eq!(
            audit["Action"],
            serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"])
        );
        assert!(
            audit["Resource"]
                .to_string()
                .contains(":log-stream:clinic/*")
        );
        assert!(
            statements
                .iter()
                .any(|s| s["Sid"] == "ProtectTheAuditTrail" && s["Effect"] == "Deny"),
            "the trail's Deny guards"
        );
        assert_eq!(
            logs[0]["Resource"][0]["Fn::Sub"],
            format!(
                "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/bedrock-agentcore/runtimes/${{NamePrefix}}_{tier}-*"
            )
        );
        let runtime = &of_tier(&t, "AWS::BedrockAgentCore::Runtime", &tier)["Properties"];
        assert_eq!(
            runtime["AgentRuntimeName"]["Fn::Sub"],
            format!("${{NamePrefix}}_{tier}")
        );
        assert!(
            !runtime["AgentRuntimeName"]["Fn::Sub"]
                .as_str()
                .unwrap()
                .contains('-'),
            "a '-' in the name would let `<name>-*` match another runtime's log groups"
        );
        // The log group deploy.sh puts under the data key and the stack's retention.
        assert_eq!(
            t["Outputs"][format!("{}RuntimeLogGroup", pascal(&tier))]["Value"]["Fn::Sub"],
            format!(
                "/aws/bedrock-agentcore/runtimes/${{{}AgentRuntime.AgentRuntimeId}}-DEFAULT",
                pascal(&tier)
            )
        );
        assert!(
            !statements
                .iter()
                .any(|s| s["Action"].to_string().contains("bedrock:InvokeModel")),
            "the runtime calls no Bedrock model API directly"
        );
        assert!(
            env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
                .to_string()
                .contains("https://xray.${AWS::Region}.amazonaws.com/v1/traces")
        );

        let memory = &of_tier(&t, "AWS::BedrockAgentCore::Memory", &tier)["Properties"];
        assert_eq!(
            memory["EventExpiryDuration"],
            config["memory"]["event_expiry_days"]
        );
        let mut deployed: Vec<(String, String, String)> = memory["MemoryStrategies"]
            .as_array()
            .expect("strategies")
            .iter()
            .map(|s| {
                let (kind, body) = s.as_object().unwrap().iter().next().unwrap();
                (
                    kind.clone(),
                    body["Name"].as_str().unwrap().to_owned(),
                    body["Namespaces"][0].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected: Vec<(String, String, String)> = config["memory"]["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let kind = match s["type"].as_str().unwrap() {
                    "semantic" => "SemanticMemoryStrategy",
                    "summary" => "SummaryMemoryStrategy",
                    "user_preference" => "UserPreferenceMemoryStrategy",
                    other => panic!("unknown strategy type {other}"),
                };
                (
                    kind.to_owned(),
                    s["name"].as_str().unwrap().to_owned(),
                    s["namespace"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        deployed.sort();
        expected.sort();
        assert_eq!(
            deployed, expected,
            "{tier}: memory strategies and namespaces"
        );

        let kb = &of_tier(&t, "AWS::Bedrock::KnowledgeBase", &tier)["Properties"];
        assert_eq!(kb["Name"], config["knowledge_base"]["name"]);
        let vector = &kb["KnowledgeBaseConfiguration"]["VectorKnowledgeBaseConfiguration"];
        assert!(
            vector["EmbeddingModelArn"].to_string().contains(
                config["knowledge_base"]["embedding_model_id"]
                    .as_str()
                    .unwrap()
            )
        );
        assert_eq!(
            vector["EmbeddingModelConfiguration"]["BedrockEmbeddingModelConfiguration"]["Dimensions"],
            config["knowledge_base"]["embedding_dimensions"]
        );
        let param =
            &t["Resources"][format!("{}KnowledgeBaseIdParameter", pascal(&tier))]["Properties"];
        assert_eq!(param["Name"], config["knowledge_base"]["ssm_parameter"]);
    }
    // The proxy knows every tier's runtime, and nothing else.
    let proxy_env =
        &t["Resources"]["RequestProxyFunction"]["Properties"]["Environment"]["Variables"];
    let arn_vars: Vec<&String> = proxy_env
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("TENANTRY_RUNTIME_ARN_"))
        .collect();
    assert_eq!(arn_vars.len(), tiers().len());
    for (tier, _) in tiers() {
        assert!(
            proxy_env
                .get(format!("TENANTRY_RUNTIME_ARN_{}", tier.to_uppercase()))
                .is_some(),
            "{tier}"
        );
    }
}

#[test]
fn gateways_enforce_cedar_and_targets_expose_only_the_tiers_tools() {
    let t = template();
    let schema: Vec<Value> = serde_json::from_str(TOOL_SCHEMA).unwrap();
    for (tier, config) in tiers() {
        let gateway = &of_tier(&t, "AWS::BedrockAgentCore::Gateway", &tier)["Properties"];
        // A Gateway accepts only the MCP versions it lists: the one the agent pins.
        assert_eq!(
            gateway["ProtocolConfiguration"]["Mcp"]["SupportedVersions"],
            serde_json::json!([agent_runtime::tools::MCP_PROTOCOL_VERSION.as_str()])
        );
        assert_eq!(gateway["PolicyEngineConfiguration"]["Mode"], "ENFORCE");

        let target = &t["Resources"][format!("{}GatewayTarget", pascal(&tier))]["Properties"];
        assert_eq!(target["Name"], config["gateway_target"]);
        let tools: Vec<&str> =
            target["TargetConfiguration"]["Mcp"]["Lambda"]["ToolSchema"]["InlinePayload"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["Name"].as_str().unwrap())
                .collect();
        let expected: Vec<&str> = schema
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .filter(|name| {
                config["tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t == name)
            })
            .collect();
        assert_eq!(tools, expected, "{tier}");
        let headers: Vec<&str> = target["MetadataConfiguration"]["AllowedRequestHeaders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert!(headers.len() <= 10, "AgentCore allows at most 10 headers");
        for needed in contracts::headers::PROPAGATED {
            assert!(headers.contains(&needed), "{tier}: {needed} not propagated");
        }
    }
    // Exactly one policy per shipped Cedar statement, with the same text except that each
    // tier's Gateway placeholder is that tier's Gateway ARN and its runtime-role placeholder
    // that tier's runtime role's name.
    let statements = gateway_policy::GatewayPolicy::shipped()
        .unwrap()
        .statements()
        .unwrap();
    let policies = resources_of(&t, "AWS::BedrockAgentCore::Policy");
    assert_eq!(policies.len(), statements.len());
    for s in &statements {
        let expected = tiers().iter().fold(s.cedar.clone(), |text, (tier, _)| {
            text.replace(
                &gateway_policy::gateway_placeholder(tier),
                &format!("${{{}Gateway.GatewayArn}}", pascal(tier)),
            )
            .replace(
                &gateway_policy::runtime_role_placeholder(tier),
                &format!("${{{}RuntimeRole}}", pascal(tier)),
            )
        });
        assert!(!expected.contains("{{"), "{}: a placeholder is left", s.id);
        assert!(
            policies.iter().any(|(_, p)| {
                p["Properties"]["Definition"]["Cedar"]["Statement"]["Fn::Sub"] == expected.as_str()
            }),
            "{} not deployed verbatim (with its Gateway named)",
            s.id
        );
    }
}

#[test]
fn users_cannot_write_their_tenant_attributes() {
    let t = template();
    let pool = &t["Resources"]["UserPool"]["Properties"];
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"],
        true
    );
    let custom: Vec<String> = pool["Schema"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["Name"] != "email")
        .map(|a| format!("custom:{}", a["Name"].as_str().unwrap()))
        .collect();
    for needed in ["custom:tier", "custom:clinic_id", "custom:role"] {
        assert!(
            custom.iter().any(|c| c == needed),
            "{needed} missing from the pool"
        );
    }
    let client = &t["Resources"]["UserPoolClient"]["Properties"];
    let write = client["WriteAttributes"]
        .as_array()
        .expect("WriteAttributes must be explicit: Cognito's default is every writable attribute");
    for attr in &custom {
        assert!(
            !write.iter().any(|w| w == attr.as_str()),
            "{attr} is user-writable"
        );
        assert!(
            client["ReadAttributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == attr.as_str()),
            "{attr} unreadable"
        );
    }
    assert!(
        write
            .iter()
            .all(|w| !w.as_str().unwrap().starts_with("custom:"))
    );
    // Nor the e-mail account recovery goes to.
    assert!(!write.iter().any(|w| w == "email"), "{write:?}");
    // The clinic is set once, at creation, and no one (not even an administrator) changes it.
    for attribute in pool["Schema"].as_array().unwrap() {
        let mutable = attribute["Mutable"].as_bool().unwrap();
        match attribute["Name"].as_str().unwrap() {
            "clinic_id" => assert!(!mutable, "custom:clinic_id is mutable"),
            name => assert!(mutable, "{name}"),
        }
    }
}

/// Users read patient data: TOTP required unless a test stack says otherwise, threat protection
/// on, and tokens short-lived (the Runtimes and Gateways accept them directly).
#[test]
fn sign_in_needs_mfa_and_tokens_are_short_lived() {
    let t = template();
    let pool = &t["Resources"]["UserPool"]["Properties"];
    // MFA relaxed, and password sign-in by API allowed, on a test stack only; a stack is
    // production unless deployed as a test stack.
    assert_eq!(
        pool["MfaConfiguration"],
        serde_json::json!({ "Fn::If": ["IsTestStack", "OPTIONAL", "ON"] })
    );
    assert_eq!(t["Parameters"]["StackPurpose"]["Default"], "production");
    assert_eq!(
        t["Conditions"]["IsTestStack"],
        serde_json::json!({ "Fn::Equals": [{ "Ref": "StackPurpose" }, "test"] })
    );
    let flows = &t["Resources"]["UserPoolClient"]["Properties"]["ExplicitAuthFlows"]["Fn::If"];
    assert_eq!(flows[0], "IsTestStack");
    assert!(
        flows[1]
            .to_string()
            .contains("ALLOW_ADMIN_USER_PASSWORD_AUTH")
    );
    let production = flows[2].as_array().unwrap();
    assert!(
        production
            .iter()
            .all(|f| f.as_str().unwrap() == "ALLOW_USER_SRP_AUTH"
                || f.as_str().unwrap() == "ALLOW_REFRESH_TOKEN_AUTH"),
        "{production:?}"
    );
    assert_eq!(t["Outputs"]["StackPurpose"]["Value"]["Ref"], "StackPurpose");
    assert_eq!(
        pool["EnabledMfas"],
        serde_json::json!(["SOFTWARE_TOKEN_MFA"])
    );
    assert_eq!(
        pool["UserPoolAddOns"]["AdvancedSecurityMode"]["Ref"],
        "ThreatProtection"
    );
    assert_eq!(t["Parameters"]["ThreatProtection"]["Default"], "ENFORCED");
    assert_eq!(pool["UserPoolTier"], "PLUS");
    let client = &t["Resources"]["UserPoolClient"]["Properties"];
    assert_eq!(client["TokenValidityUnits"]["IdToken"], "minutes");
    assert!(client["IdTokenValidity"].as_u64().unwrap() <= 15);
    assert_eq!(client["TokenValidityUnits"]["AccessToken"], "minutes");
    assert!(client["AccessTokenValidity"].as_u64().unwrap() <= 15);
    assert_eq!(client["EnableTokenRevocation"], true);
}

/// The WAF caps what one source address can send, before any token or usage plan is looked at.
#[test]
fn the_waf_limits_each_source_address() {
    let t = template();
    let rules = t["Resources"]["ApiWebAcl"]["Properties"]["Rules"]
        .as_array()
        .unwrap();
    let rate = rules
        .iter()
        .find(|r| r["Statement"].get("RateBasedStatement").is_some())
        .expect("a rate-based rule");
    assert_eq!(rate["Action"], serde_json::json!({"Block": {}}));
    let statement = &rate["Statement"]["RateBasedStatement"];
    assert_eq!(statement["AggregateKeyType"], "IP");
    let per_second =
        statement["Limit"].as_f64().unwrap() / statement["EvaluationWindowSec"].as_f64().unwrap();
    let premium = tiers()
        .iter()
        .find(|(t, _)| t == "premium")
        .map(|(_, c)| c["usage_plan"]["rate_limit"].as_f64().unwrap())
        .unwrap();
    assert!(
        per_second >= premium,
        "one address may send at least a premium tenant's rate ({per_second} >= {premium})"
    );
}

/// Behind CloudFront the regional web ACL sees CloudFront's addresses: the per-client limit
/// lives in the edge web ACL (us-east-1, in front of the distribution), and the regional one
/// skips the per-address rule only for requests carrying the distribution's origin secret.
#[test]
fn the_edge_limits_each_client_and_the_region_exempts_only_the_distribution() {
    let t = template();
    let edge: serde_json::Value = serde_json::from_str(EDGE_TEMPLATE).unwrap();
    let acl = &edge["Resources"]["EdgeWebAcl"]["Properties"];
    assert_eq!(acl["Scope"], "CLOUDFRONT");
    let rate = acl["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Statement"].get("RateBasedStatement").is_some())
        .expect("the edge's per-client rule");
    assert_eq!(rate["Action"], serde_json::json!({"Block": {}}));
    let edge_rate = &rate["Statement"]["RateBasedStatement"];
    assert_eq!(edge_rate["AggregateKeyType"], "IP");
    assert!(
        edge_rate.get("ScopeDownStatement").is_none(),
        "every client, no exemption"
    );
    assert_eq!(
        edge["Outputs"]["EdgeWebAclArn"]["Value"]["Fn::GetAtt"][0],
        "EdgeWebAcl"
    );

    let distribution = &t["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"];
    assert_eq!(distribution["WebACLId"]["Ref"], "EdgeWebAclArn");
    assert!(
        t["Parameters"]["EdgeWebAclArn"]["AllowedPattern"]
            .as_str()
            .unwrap()
            .contains(":wafv2:us-east-1:"),
        "CloudFront takes web ACLs from us-east-1 only"
    );
    let api_origin = distribution["Origins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["Id"] == "api")
        .unwrap();
    let header = &api_origin["OriginCustomHeaders"][0];
    assert_eq!(header["HeaderName"], "x-origin-verify");
    assert_eq!(header["HeaderValue"]["Ref"], "OriginVerifySecret");
    let secret = &t["Parameters"]["OriginVerifySecret"];
    assert_eq!(secret["NoEcho"], true);
    assert!(secret["MinLength"].as_u64().unwrap() >= 32);

    let regional = t["Resources"]["ApiWebAcl"]["Properties"]["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "PerSourceAddressRate")
        .unwrap();
    let exempt = &regional["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["NotStatement"]
        ["Statement"]["ByteMatchStatement"];
    assert_eq!(
        exempt["FieldToMatch"]["SingleHeader"]["Name"],
        "x-origin-verify"
    );
    assert_eq!(exempt["PositionalConstraint"], "EXACTLY");
    assert_eq!(exempt["SearchString"]["Ref"], "OriginVerifySecret");
    // Neither the token nor the secret reaches the WAF logs.
    let redacted = t["Resources"]["ApiWebAclLogging"]["Properties"]["RedactedFields"].to_string();
    for name in ["authorization", "x-origin-verify"] {
        assert!(redacted.contains(name), "{name}: {redacted}");
    }
}

#[test]
fn every_function_has_its_own_role_and_runs_on_al2023_arm64() {
    let t = template();
    let functions = resources_of(&t, "AWS::Lambda::Function");
    assert_eq!(functions.len(), infra_template::FUNCTIONS.len());
    let mut roles: Vec<String> = Vec::new();
    for (id, f) in &functions {
        let p = &f["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{id}");
        assert_eq!(p["Architectures"][0], "arm64", "{id}");
        roles.push(
            p["Role"]["Fn::GetAtt"][0]
                .as_str()
                .expect("role by GetAtt")
                .to_owned(),
        );
    }
    roles.sort();
    roles.dedup();
    assert_eq!(roles.len(), functions.len(), "roles are not shared");
}

#[test]
fn data_at_rest_is_encrypted_recoverable_and_private() {
    let t = template();
    let tables = resources_of(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 4);
    for (id, table) in &tables {
        let p = &table["Properties"];
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{id}"
        );
        assert_eq!(p["SSESpecification"]["SSEType"], "KMS", "{id}");
        assert_eq!(
            p["SSESpecification"]["KMSMasterKeyId"]["Ref"], "DataKey",
            "{id}"
        );
        assert_eq!(table["DeletionPolicy"], "RetainExceptOnCreate", "{id}");
    }
    let patients = &t["Resources"]["PatientMetadataTable"]["Properties"]["KeySchema"];
    assert_eq!(patients[0]["AttributeName"], "clinic_id");
    assert_eq!(
        patients[0]["KeyType"], "HASH",
        "the tenant must be the partition key (dynamodb:LeadingKeys)"
    );
    assert_eq!(patients[1]["AttributeName"], "patient_id");

    let buckets = resources_of(&t, "AWS::S3::Bucket");
    assert_eq!(
        buckets.len(),
        tiers().len() + 2,
        "one per tier, access logs and the web chat's page"
    );
    for (id, bucket) in &buckets {
        let pab = &bucket["Properties"]["PublicAccessBlockConfiguration"];
        for k in [
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        ] {
            assert_eq!(pab[k], true, "{id}: {k}");
        }
        let policy = resources_of(&t, "AWS::S3::BucketPolicy")
            .into_iter()
            .find(|(_, p)| p["Properties"]["Bucket"]["Ref"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} has no bucket policy"));
        assert!(
            policy.1["Properties"]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["Effect"] == "Deny"
                    && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"),
            "{id}: not TLS-only"
        );
    }
    // Every bucket, the access logs included, under the data key; the web chat's page files
    // (public, no data) under S3's own key, which CloudFront reads without a data-key grant.
    for (id, bucket) in resources_of(&t, "AWS::S3::Bucket") {
        if id == "SiteBucket" {
            let sse = &bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                [0]["ServerSideEncryptionByDefault"];
            assert_eq!(sse["SSEAlgorithm"], "AES256");
            continue;
        }
        let sse = &bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"];
        assert_eq!(sse["SSEAlgorithm"], "aws:kms", "{id}");
        assert_eq!(
            sse["KMSMasterKeyID"],
            serde_json::json!({"Fn::GetAtt": ["DataKey", "Arn"]}),
            "{id}"
        );
    }
    // S3's log delivery may use the key for the stack's document buckets only.
    let key_policy = t["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let delivery = key_policy
        .iter()
        .find(|s| s["Principal"]["Service"] == "logging.s3.amazonaws.com")
        .expect("log delivery may encrypt the access logs");
    assert_eq!(delivery["Action"], "kms:GenerateDataKey");
    assert_eq!(
        delivery["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"],
        "arn:${AWS::Partition}:s3:::${NamePrefix}-docs-${AWS::AccountId}-${AWS::Region}-*"
    );
}

/// Conversation memory, extracted facts and the knowledge bases' vectors hold patient data:
/// all under the data key, and AWS's services can use the key for exactly those stores.
#[test]
fn memories_and_vector_buckets_are_under_the_data_key_and_facts_expire() {
    let t = template();
    let data_key = serde_json::json!({"Fn::GetAtt": ["DataKey", "Arn"]});
    for (tier, config) in tiers() {
        let memory = &of_tier(&t, "AWS::BedrockAgentCore::Memory", &tier)["Properties"];
        assert_eq!(memory["EncryptionKeyArn"], data_key, "{tier}");
        let record_days = config["memory"]["record_expiry_days"].as_u64().unwrap();
        assert!(record_days >= 31, "{tier}: AWS's minimum is 31 days");
        for strategy in memory["MemoryStrategies"].as_array().unwrap() {
            let (_, body) = strategy.as_object().unwrap().iter().next().unwrap();
            assert_eq!(
                body["RecordExpirySpecification"]["RecordExpiryDurationDays"], record_days,
                "{tier}: {body}"
            );
        }
        let bucket = &of_tier(&t, "AWS::S3Vectors::VectorBucket", &tier)["Properties"];
        assert_eq!(
            bucket["EncryptionConfiguration"]["SseType"], "aws:kms",
            "{tier}"
        );
        assert_eq!(
            bucket["EncryptionConfiguration"]["KmsKeyArn"], data_key,
            "{tier}"
        );
        // The bucket's indexes inherit its key; one that set its own would override it.
        for (id, index) in resources_of(&t, "AWS::S3Vectors::Index") {
            assert!(
                index["Properties"].get("EncryptionConfiguration").is_none(),
                "{id}"
            );
        }
        // The background indexer may decrypt with the key for this stack's vector buckets.
        let name = bucket["VectorBucketName"]["Fn::Sub"].as_str().unwrap();
        let statements = t["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
            .as_array()
            .unwrap();
        let indexer = statements
            .iter()
            .find(|s| s["Principal"]["Service"] == "indexing.s3vectors.amazonaws.com")
            .expect("S3 Vectors' indexer may use the key");
        assert_eq!(indexer["Action"], "kms:Decrypt");
        assert_eq!(
            indexer["Condition"]["StringEquals"]["aws:SourceAccount"]["Ref"],
            "AWS::AccountId"
        );
        let pattern = indexer["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap();
        let prefix = pattern
            .strip_prefix(
                "arn:${AWS::Partition}:s3vectors:${AWS::Region}:${AWS::AccountId}:bucket/",
            )
            .and_then(|p| p.strip_suffix('*'))
            .expect(pattern);
        assert!(
            name.starts_with(prefix) && prefix.len() > "${NamePrefix}".len(),
            "{pattern} vs {name}"
        );
        // Callers reach the key only through the services that store the data.
        let via = statements
            .iter()
            .find(|s| s["Principal"]["AWS"] == "*")
            .expect("the data services' statement");
        let services = via["Condition"]["StringEquals"]["kms:ViaService"].to_string();
        for service in ["dynamodb", "s3", "s3vectors", "bedrock-agentcore"] {
            assert!(
                services.contains(&format!("\"{service}.${{AWS::Region}}.amazonaws.com\"")),
                "{service}: {services}"
            );
        }
        assert_eq!(
            via["Condition"]["StringEquals"]["kms:CallerAccount"]["Ref"],
            "AWS::AccountId"
        );
    }
}

#[test]
fn tvm_role_is_rendered_fully_and_keeps_its_iam_variables() {
    let t = template();
    assert!(
        !TEMPLATE.contains("{{"),
        "an unrendered {{Placeholder}} is left in the template"
    );
    let permissions_of = |role: &str| {
        t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"].to_string()
    };
    // Inside Fn::Sub, IAM's own variables must be escaped, or CloudFormation would resolve them.
    let memory = permissions_of("TenantMemoryRole");
    assert!(memory.contains("${!aws:PrincipalTag/"), "{memory}");
    for permissions in [memory, permissions_of("TenantDataRole")] {
        for sub in permissions.split("\"Fn::Sub\"").skip(1) {
            let text = sub.split('"').nth(2).unwrap_or_default();
            assert!(
                !text.contains("${aws:"),
                "unescaped IAM variable inside Fn::Sub: {text}"
            );
        }
    }
    let data = permissions_of("TenantDataRole");
    assert!(data.contains("${aws:PrincipalTag/ClinicId}"), "{data}");
    assert!(!data.contains("dynamodb:Scan"));
}

#[test]
fn front_door_takes_the_tenants_api_key_from_the_authorizer() {
    let t = template();
    let api = &t["Resources"]["RestApi"]["Properties"];
    assert_eq!(api["ApiKeySourceType"], "AUTHORIZER");
    let methods = resources_of(&t, "AWS::ApiGateway::Method");
    // POST /invoke, GET /usage, GET /audit.
    assert_eq!(methods.len(), 3);
    for (id, method) in &methods {
        assert_eq!(method["Properties"]["AuthorizationType"], "CUSTOM", "{id}");
        assert_eq!(
            method["Properties"]["AuthorizerId"]["Ref"], "TenantAuthorizer",
            "{id}"
        );
        // Only the agent is metered by the tier's plan; reading the clinic's day is not, so
        // it is throttled on the stage.
        let metered = method["Properties"]["HttpMethod"] == "POST";
        assert_eq!(method["Properties"]["ApiKeyRequired"], metered, "{id}");
    }
    let stage = &t["Resources"]["ApiStage"]["Properties"];
    let settings = stage["MethodSettings"].as_array().unwrap();
    for s in settings {
        assert_eq!(
            s["DataTraceEnabled"], false,
            "request bodies hold patient data"
        );
    }
    let usage = settings
        .iter()
        .find(|s| s["ResourcePath"] == "/usage" && s["HttpMethod"] == "GET")
        .expect("GET /usage has its own throttle");
    assert!(usage["ThrottlingRateLimit"].as_f64().unwrap() > 0.0);
    assert!(usage["ThrottlingBurstLimit"].as_u64().unwrap() > 0);
}

#[test]
fn usage_counters_expire_and_only_the_proxy_reads_them() {
    let t = template();
    let table = &t["Resources"]["UsageTable"]["Properties"];
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        usage_meter::ATTR_EXPIRES
    );
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (id, role) in resources_of(&t, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if !st["Resource"].to_string().contains("UsageTable") {
                    continue;
                }
                let actions = st["Action"].to_string();
                if actions.contains("dynamodb:Query") {
                    readers.push(id.clone());
                }
                // A runtime reads one item only, its caller's clinic's budget, after a refusal.
                if actions.contains("dynamodb:GetItem") && !id.ends_with("RuntimeRole") {
                    assert_eq!(id, "RequestProxyRole");
                }
                if actions.contains("dynamodb:UpdateItem") {
                    writers.push(id.clone());
                }
                assert!(
                    !actions.contains("Scan") && !actions.contains("Delete"),
                    "{id}"
                );
            }
        }
    }
    assert_eq!(readers, ["RequestProxyRole"]);
    assert!(writers.contains(&"RequestProxyRole".to_owned()));
    assert!(
        writers.iter().any(|w| w.ends_with("RuntimeRole")),
        "{writers:?}"
    );
}

#[test]
fn no_statement_grants_everything() {
    let t = template();
    // Actions with no resource-level permissions, where "*" is the only possible resource.
    let star_ok = [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "ecr:GetAuthorizationToken",
        // AWS's own managed policy for the endpoint grants it on "*".
        "bedrock-mantle:CallWithBearerToken",
    ];
    for (id, role) in resources_of(&t, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                // A Deny grants nothing: `ProtectTheAuditTrail`-style guards may name "*".
                if s["Effect"] == "Deny" {
                    continue;
                }
                let actions: Vec<&str> = match &s["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                assert!(
                    actions.iter().all(|a| !a.ends_with('*')),
                    "{id}: wildcard action {actions:?}"
                );
                if s["Resource"].to_string().contains("\"*\"") {
                    assert!(
                        actions.iter().all(|a| star_ok.contains(a)),
                        "{id}: {actions:?} on *"
                    );
                }
            }
        }
    }
}

/// checkov suppressions must say why (the reviewers' only record of the decision).
#[test]
fn every_checkov_suppression_has_a_reason() {
    let t = template();
    let mut count = 0;
    let check_id = regex::Regex::new(r"^CKV2?_AWS_\d+$").unwrap();
    for (id, r) in t["Resources"].as_object().unwrap() {
        for skip in r["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            count += 1;
            let id_ok = check_id.is_match(skip["id"].as_str().unwrap_or_default());
            assert!(id_ok, "{id}: bad check id {}", skip["id"]);
            assert!(
                skip["comment"].as_str().is_some_and(|c| c.len() >= 40),
                "{id}: {} has no real reason",
                skip["id"]
            );
        }
    }
    assert!(count > 0);
}

/// No IAM condition key can pin a Retrieve filter: whoever may call Retrieve on a tier's
/// knowledge base can read every clinic of that tier. Only the tool target may.
#[test]
fn only_the_tool_target_may_retrieve_documents() {
    let t = template();
    let mut holders = Vec::new();
    for (id, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        let text = r["Properties"]["Policies"].to_string();
        if text.contains("bedrock:Retrieve") || text.contains("bedrock:*") {
            holders.push(id.clone());
        }
    }
    assert_eq!(holders, ["ToolTargetRole"]);
}

/// The runtimes run the agent image by digest, from the agent's own repository only.
#[test]
fn runtimes_run_the_agent_image_by_digest_from_its_own_repository() {
    let t = template();
    let pattern = regex::Regex::new(
        t["Parameters"]["AgentRuntimeImageUri"]["AllowedPattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let digest = "a".repeat(64);
    assert!(pattern.is_match(&format!(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantry-agent-runtime@sha256:{digest}"
    )));
    for moved in [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantry-agent-runtime:latest",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantry-agent-runtime",
        "docker.io/library/agent@sha256:0000",
    ] {
        assert!(!pattern.is_match(moved), "{moved}");
    }
    for (tier, _) in tiers() {
        let role = &t["Resources"][format!("{}RuntimeRole", pascal(&tier))];
        let pull = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "PullTheAgentImage")
            .expect("pull statement")
            .to_string();
        assert!(
            pull.contains("repository/${NamePrefix}-agent-runtime\""),
            "{pull}"
        );
    }
}

/// The API streams the agent's answer: the integration's transfer mode, its Lambda URI for
/// InvokeWithResponseStream, request-proxy told the same, and the timeouts nested (the proxy
/// gives up before its function, the function before API Gateway).
#[test]
fn the_api_streams_answers_and_the_timeouts_nest() {
    let t = template();
    let integration = &t["Resources"]["InvokeMethod"]["Properties"]["Integration"];
    assert_eq!(integration["Type"], "AWS_PROXY");
    assert_eq!(integration["ResponseTransferMode"], "STREAM");
    let uri = integration["Uri"]["Fn::Sub"].as_str().unwrap();
    assert!(
        uri.contains(
            "/2021-11-15/functions/${RequestProxyFunction.Arn}/response-streaming-invocations"
        ),
        "{uri}"
    );
    let proxy = &t["Resources"]["RequestProxyFunction"]["Properties"];
    let env = &proxy["Environment"]["Variables"];
    assert_eq!(env["TENANTRY_RESPONSE_MODE"], "stream");
    let proxy_timeout: u64 = env["TENANTRY_RUNTIME_TIMEOUT_SECS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let function_timeout = proxy["Timeout"].as_u64().unwrap();
    let api_timeout = integration["TimeoutInMillis"].as_u64().unwrap() / 1000;
    assert!(
        proxy_timeout < function_timeout,
        "{proxy_timeout} < {function_timeout}"
    );
    assert!(
        function_timeout <= api_timeout,
        "{function_timeout} <= {api_timeout}"
    );
    assert!(
        api_timeout <= 900,
        "a streaming integration waits at most 15 minutes"
    );
}

/// Every (role, action, resource) the template grants, from the roles' inline policies.
fn grants<'a>(t: &'a Value, action: &str) -> Vec<(&'a String, &'a Value)> {
    let mut out = Vec::new();
    for (id, role) in resources_of(t, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for st in policy["PolicyDocument"]["Statement"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let actions: Vec<&str> = match &st["Action"] {
                    Value::String(a) => vec![a.as_str()],
                    Value::Array(l) => l.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if st["Effect"] == "Allow"
                    && actions
                        .iter()
                        .any(|a| *a == action || a.ends_with(":*") || *a == "*")
                {
                    out.push((id, &st["Resource"]));
                }
            }
        }
    }
    out
}

/// No credential a user holds opens a Runtime or a Gateway: both are on IAM inbound auth (no
/// JWT authorizer), only request-proxy's role may invoke the runtimes, and only each tier's
/// runtime role may invoke that tier's Gateway. The user's token reaches the agent in the one
/// allow-listed header.
#[test]
fn runtimes_and_gateways_open_only_to_their_one_calling_role() {
    let t = template();
    for (tier, _) in tiers() {
        let runtime = &of_tier(&t, "AWS::BedrockAgentCore::Runtime", &tier)["Properties"];
        assert!(
            runtime.get("AuthorizerConfiguration").is_none(),
            "{tier}: IAM inbound auth"
        );
        assert_eq!(
            runtime["RequestHeaderConfiguration"]["RequestHeaderAllowlist"],
            serde_json::json!([contracts::headers::RUNTIME_ID_TOKEN]),
            "{tier}: only the ID-token header passes (and it is a custom header)"
        );
        assert!(
            contracts::headers::RUNTIME_ID_TOKEN
                .starts_with("X-Amzn-Bedrock-AgentCore-Runtime-Custom-")
        );
        let gateway = &of_tier(&t, "AWS::BedrockAgentCore::Gateway", &tier)["Properties"];
        assert_eq!(gateway["AuthorizerType"], "AWS_IAM", "{tier}");
        assert!(gateway.get("AuthorizerConfiguration").is_none(), "{tier}");
    }
    let invoke_runtime = grants(&t, "bedrock-agentcore:InvokeAgentRuntime");
    assert!(
        !invoke_runtime.is_empty()
            && invoke_runtime
                .iter()
                .all(|(id, _)| *id == "RequestProxyRole"),
        "only request-proxy's role invokes the runtimes: {invoke_runtime:?}"
    );
    let resources = invoke_runtime[0].1.to_string();
    for (tier, _) in tiers() {
        assert!(
            resources.contains(&format!("{}AgentRuntime", pascal(&tier))),
            "{resources}"
        );
    }
    assert!(resources.contains("/runtime-endpoint/*"), "{resources}");
    let invoke_gateway = grants(&t, "bedrock-agentcore:InvokeGateway");
    assert_eq!(invoke_gateway.len(), tiers().len(), "{invoke_gateway:?}");
    for (tier, _) in tiers() {
        let role = format!("{}RuntimeRole", pascal(&tier));
        let own: Vec<_> = invoke_gateway
            .iter()
            .filter(|(id, _)| **id == role)
            .collect();
        assert_eq!(own.len(), 1, "{role}");
        assert_eq!(
            own[0].1,
            &serde_json::json!([{ "Fn::GetAtt": [format!("{}Gateway", pascal(&tier)), "GatewayArn"] }]),
            "{role} invokes its own tier's Gateway only"
        );
    }
}

/// Cognito asks the pre-token function before it issues any token; only this user pool may
/// invoke it, and it may read only the tenant registry.
#[test]
fn no_tokens_without_the_registry_saying_so() {
    let t = template();
    let pool = &t["Resources"]["UserPool"]["Properties"];
    let trigger = &pool["LambdaConfig"]["PreTokenGenerationConfig"];
    assert_eq!(trigger["LambdaArn"]["Fn::GetAtt"][0], "PreTokenFunction");
    let permission = &t["Resources"]["PreTokenInvokePermission"]["Properties"];
    assert_eq!(permission["Principal"], "cognito-idp.amazonaws.com");
    assert_eq!(permission["SourceArn"]["Fn::GetAtt"][0], "UserPool");
    let env = &t["Resources"]["PreTokenFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["TENANTRY_REGISTRY_TABLE"]["Ref"], "TenantRegistryTable");
    let statements = t["Resources"]["PreTokenRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .unwrap();
    let grants: Vec<String> = statements.iter().map(|s| s["Action"].to_string()).collect();
    assert!(grants.iter().any(|g| g.contains("dynamodb:GetItem")));
    assert!(
        !grants.iter().any(|g| g.contains("dynamodb:PutItem")
            || g.contains("dynamodb:UpdateItem")
            || g.contains("cognito-idp")),
        "{grants:?}"
    );
}

/// The token vending machine is deployed once per calling role: tool-target may invoke only the
/// data deployment and the agent runtimes only the memory one; each deployment vends only its
/// callers' scopes and may assume only its own tenant role, which that function alone (its
/// role, from inside it) may assume, and whose grants cover only those scopes' services.
#[test]
fn each_caller_reaches_only_its_own_vending_function_and_scopes() {
    use scoped_credentials::Scope;
    let t = template();
    let invokable = |role: &str| -> Vec<String> {
        let doc = t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"].clone();
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].to_string().contains("lambda:InvokeFunction"))
            .flat_map(|s| s["Resource"].as_array().cloned().unwrap_or_default())
            .map(|r| r["Fn::GetAtt"][0].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    assert_eq!(invokable("ToolTargetRole"), ["TokenVendingFunction"]);
    for (tier, _) in tiers() {
        let role = format!("{}RuntimeRole", pascal(&tier));
        assert_eq!(invokable(&role), ["MemoryVendingFunction"], "{role}");
        let runtime = &t["Resources"][format!("{}AgentRuntime", pascal(&tier))]["Properties"];
        assert_eq!(
            runtime["EnvironmentVariables"]["TENANTRY_TVM_FUNCTION"]["Fn::GetAtt"][0],
            "MemoryVendingFunction"
        );
    }
    let mut seen = 0;
    for (function, role, want) in [
        ("TokenVending", "TenantDataRole", vec![Scope::Data]),
        ("MemoryVending", "TenantMemoryRole", vec![Scope::Memory]),
    ] {
        let f = &t["Resources"][format!("{function}Function")]["Properties"];
        let env = &f["Environment"]["Variables"];
        let allowed =
            token_vending::AllowedScopes::parse(env["TENANTRY_ALLOWED_SCOPES"].as_str().unwrap())
                .unwrap();
        for scope in [Scope::Data, Scope::Memory] {
            assert_eq!(
                allowed.allows(scope),
                want.contains(&scope),
                "{function} {scope}"
            );
        }
        assert!(
            env["TENANTRY_TVM_ROLE_ARN"].to_string().contains(&format!(
                "-tenant-{}",
                if function == "TokenVending" {
                    "data"
                } else {
                    "memory"
                }
            )),
            "{function} assumes {role}"
        );
        // Its own role may assume only its own tenant role.
        let own = t["Resources"][format!("{function}Role")]["Properties"].to_string();
        assert!(own.contains("sts:AssumeRole"));
        let other = if role == "TenantDataRole" {
            "tenant-memory"
        } else {
            "tenant-data"
        };
        assert!(!own.contains(other), "{function} may assume {other}");

        let tenant_role = &t["Resources"][role]["Properties"];
        let trust = &tenant_role["AssumeRolePolicyDocument"]["Statement"];
        assert_eq!(trust.as_array().unwrap().len(), 1);
        let trust = trust[0].to_string();
        assert!(
            trust.contains(&format!("{function}Role")),
            "{role}: {trust}"
        );
        // The pin to the function itself is on the function's role (an identity-based
        // policy), where `lambda:SourceFunctionArn` is evaluated.
        let assume = t["Resources"][format!("{function}Role")]["Properties"]["Policies"][0]
            ["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["Sid"] == "AssumeItsTenantRoleWithSessionTags")
            .unwrap();
        let pinned = assume["Condition"]["ArnEquals"]["lambda:SourceFunctionArn"]["Fn::Sub"]
            .as_str()
            .unwrap();
        let name = if function == "TokenVending" {
            "token-vending"
        } else {
            "memory-vending"
        };
        assert!(
            pinned.ends_with(&format!(":function:${{NamePrefix}}-{name}")),
            "{function}: {pinned}"
        );
        let other_function = if function == "TokenVending" {
            "MemoryVending"
        } else {
            "TokenVending"
        };
        assert!(
            !trust.contains(other_function),
            "{role} trusts {other_function}"
        );

        // Every action the tenant role grants belongs to a service of the allowed scopes.
        let services: Vec<String> = want
            .iter()
            .map(|s| {
                let policy: serde_json::Value = serde_json::from_str(&s.session_policy()).unwrap();
                policy["Statement"][0]["Action"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('*')
                    .to_owned()
            })
            .collect();
        for stmt in tenant_role["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            for action in stmt["Action"].as_array().unwrap() {
                let action = action.as_str().unwrap();
                assert!(
                    services.iter().any(|s| action.starts_with(s.as_str())),
                    "{role} grants {action} outside {want:?}"
                );
            }
        }
        seen += 1;
    }
    assert_eq!(seen, infra_template::VENDING.len());
}

/// The functions the agents reach without the front door reserve (and so cap) concurrency
/// when the ReservedConcurrency parameter is set; the others are bounded by the front door.
#[test]
fn functions_behind_the_agents_reserve_concurrency_by_parameter() {
    let t = template();
    assert_eq!(t["Parameters"]["ReservedConcurrency"]["Type"], "Number");
    assert_eq!(
        t["Conditions"]["ReserveConcurrency"],
        serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]})
    );
    for f in infra_template::FUNCTIONS {
        let p = &t["Resources"][f.id.function()]["Properties"];
        let reserved = &p["ReservedConcurrentExecutions"];
        use infra_template::FunctionId;
        if [
            FunctionId::TokenVending,
            FunctionId::MemoryVending,
            FunctionId::ToolTarget,
        ]
        .contains(&f.id)
        {
            assert_eq!(
                reserved,
                &serde_json::json!({"Fn::If": ["ReserveConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}),
                "{}",
                f.id.stem()
            );
        } else {
            assert!(reserved.is_null(), "{}", f.id.stem());
        }
    }
}

/// Confused-deputy guards: every service role trusts its service only for this account's (and
/// Region's) resources of that service, by aws:SourceAccount and aws:SourceArn. Exceptions,
/// each for a stated reason: Lambda execution roles (Lambda sets neither key on AssumeRole)
/// and API Gateway's account-wide logging role (shared by every API of the account, and API
/// Gateway is not documented to pass the keys: scripts/conformance/iam_reference.py).
#[test]
fn service_roles_trust_only_this_accounts_resources() {
    let t = template();
    let mut checked = 0;
    for (id, role) in resources_of(&t, "AWS::IAM::Role") {
        let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
        let Some(service) = trust["Principal"]["Service"].as_str() else {
            continue; // the tenant roles trust a function role, checked elsewhere
        };
        if service == "lambda.amazonaws.com" || id == "ApiGatewayCloudWatchRole" {
            continue;
        }
        let condition = &trust["Condition"];
        assert_eq!(
            condition["StringEquals"]["aws:SourceAccount"],
            serde_json::json!({"Ref": "AWS::AccountId"}),
            "{id}"
        );
        let source = condition["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no aws:SourceArn"));
        let prefix = match service {
            "bedrock.amazonaws.com" => {
                "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:knowledge-base/"
            }
            "bedrock-agentcore.amazonaws.com" => {
                "arn:${AWS::Partition}:bedrock-agentcore:${AWS::Region}:${AWS::AccountId}:"
            }
            other => panic!("{id}: no expectation for service {other}"),
        };
        assert!(source.starts_with(prefix), "{id}: {source}");
        checked += 1;
    }
    // a knowledge base, a gateway and a runtime per tier
    assert_eq!(checked, 3 * tiers().len());
    let logs =
        t["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Principal"]["Service"] == "logging.s3.amazonaws.com")
            .cloned()
            .unwrap();
    assert_eq!(
        logs["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"],
        "arn:${AWS::Partition}:s3:::${NamePrefix}-docs-${AWS::AccountId}-${AWS::Region}-*"
    );
}

/// The WAF's body-size rule and request-proxy's prompt limit are one limit: the WAF blocks a
/// body exactly when it is larger than the proxy reads for the prompt limit the template sets,
/// the managed 8 KB body rule only counts, and the limit fits what WAF inspects by default.
#[test]
fn the_waf_body_limit_is_the_prompt_limit() {
    let t = template();
    let rules = t["Resources"]["ApiWebAcl"]["Properties"]["Rules"]
        .as_array()
        .unwrap()
        .clone();
    let common = rules
        .iter()
        .find(|r| r["Name"] == "AWSManagedRulesCommonRuleSet")
        .unwrap();
    assert_eq!(
        common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"],
        serde_json::json!([{ "Name": "SizeRestrictions_BODY", "ActionToUse": { "Count": {} } }])
    );
    let size = rules
        .iter()
        .find_map(|r| {
            r["Statement"]
                .get("SizeConstraintStatement")
                .map(|s| (r, s))
        })
        .expect("a body-size rule");
    assert!(size.0["Action"].get("Block").is_some());
    assert_eq!(size.1["FieldToMatch"]["Body"]["OversizeHandling"], "MATCH");
    assert_eq!(size.1["ComparisonOperator"], "GT");
    let prompt: usize = t["Resources"]["RequestProxyFunction"]["Properties"]["Environment"]
        ["Variables"]["TENANTRY_MAX_PROMPT_BYTES"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = size.1["Size"].as_u64().unwrap() as usize;
    assert_eq!(body, request_proxy::config::max_body_bytes(prompt));
    assert!(body <= 16 * 1024, "larger than WAF inspects by default");
}

/// A third tier in the tier file needs no code change: the template renders it with its own
/// runtime, gateway, memory, knowledge base, usage plan and bucket, and every Lambda function
/// gets its settings (checked against the functions' own configuration code).
#[test]
fn a_third_tier_renders_without_code_changes() {
    let mut inputs = infra_template::Inputs::shipped().unwrap();
    inputs.tiers = tenant_context::TierCatalog::from_json(&testkit::tenants::tier_file_with_copy(
        "premium", "gold",
    ))
    .unwrap();
    let t = infra_template::render(&inputs).expect("renders with three tiers");
    for id in [
        "GoldAgentRuntime",
        "GoldGateway",
        "GoldRuntimeRole",
        "GoldDocumentsBucket",
        "GoldKnowledgeBase",
    ] {
        assert!(t["Resources"].get(id).is_some(), "{id} missing");
    }
    let plans = resources_of(&t, "AWS::ApiGateway::UsagePlan");
    assert_eq!(plans.len(), 3);
    let proxy = &t["Resources"]["RequestProxyFunction"]["Properties"]["Environment"]["Variables"];
    assert!(
        proxy.get("TENANTRY_RUNTIME_ARN_GOLD").is_some(),
        "request-proxy knows the gold runtime"
    );
    let tool_target =
        &t["Resources"]["ToolTargetFunction"]["Properties"]["Environment"]["Variables"];
    assert!(
        tool_target.get("TENANTRY_KNOWLEDGE_BASE_GOLD").is_some(),
        "tool-target knows the gold knowledge base"
    );
}

#[test]
fn the_web_chat_is_served_with_the_api_on_one_origin_and_never_cached() {
    let t = template();
    let d = &t["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"];
    let api = d["CacheBehaviors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["PathPattern"] == "/api/*")
        .expect("the API under /api");
    assert_eq!(api["TargetOriginId"], "api");
    // Managed CachingDisabled: answers are per user and carry patient data.
    assert_eq!(api["CachePolicyId"], "4135ea2d-6df8-44a3-9df3-4b5a84be39ad");
    assert_eq!(api["ViewerProtocolPolicy"], "https-only");
    let origins = d["Origins"].as_array().unwrap();
    let api_origin = origins.iter().find(|o| o["Id"] == "api").unwrap();
    assert_eq!(
        api_origin["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );
    // The page's bucket is private, read by this distribution only.
    let site = origins.iter().find(|o| o["Id"] == "site").unwrap();
    assert!(site["OriginAccessControlId"].is_object());
    let policy = t["Resources"]["SiteBucketPolicy"].to_string();
    assert!(
        policy.contains("cloudfront.amazonaws.com")
            && policy.contains("distribution/${SiteDistribution}")
    );
    // Sign-in: the code flow only (PKCE, no implicit tokens in URLs), back to the page only.
    let client = &t["Resources"]["UserPoolClient"]["Properties"];
    assert_eq!(client["AllowedOAuthFlows"], serde_json::json!(["code"]));
    assert_eq!(client["GenerateSecret"], false);
    assert_eq!(
        client["CallbackURLs"],
        serde_json::json!([{"Fn::Sub": "https://${SiteDistribution.DomainName}/"}])
    );
    // The function strips exactly the /api prefix.
    let code = t["Resources"]["SiteApiPathFunction"]["Properties"]["FunctionCode"]
        .as_str()
        .unwrap();
    assert!(code.contains("replace(/^\\/api(?=\\/)/, '')"), "{code}");
}

/// The shared logical ids name something the template defines, and every function's ids exist.
#[test]
fn named_logical_ids_exist() {
    let t = template();
    for id in infra_template::ids::ALL {
        assert!(
            t["Resources"].get(id).is_some() || t["Parameters"].get(id).is_some(),
            "{id} names nothing in the template"
        );
    }
    for f in infra_template::FUNCTIONS {
        for id in [f.id.function(), f.id.role(), f.id.log_group()] {
            assert!(t["Resources"].get(&id).is_some(), "{id} missing");
        }
        assert!(t["Parameters"].get(f.id.code_key()).is_some());
    }
}

/// Behind the front door the agents check the registry themselves (a suspension ends their
/// invocations within the cache period) and count each user's turns per minute.
#[test]
fn agents_read_the_registry_and_limit_each_users_turns() {
    let t = template();
    for (tier, _) in tiers() {
        let runtime = &of_tier(&t, "AWS::BedrockAgentCore::Runtime", &tier)["Properties"];
        let env = &runtime["EnvironmentVariables"];
        assert_eq!(
            env[tenant_registry::ENV_REGISTRY_TABLE]["Ref"],
            "TenantRegistryTable",
            "{tier}"
        );
        assert!(
            env[usage_meter::turn_limit::ENV_USER_TURNS_PER_MINUTE]
                .as_str()
                .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0)),
            "{tier}"
        );
    }
    let reads = grants(&t, "dynamodb:GetItem");
    for (tier, _) in tiers() {
        let role = format!("{}RuntimeRole", pascal(&tier));
        assert!(
            reads
                .iter()
                .any(|(id, res)| **id == role && res.to_string().contains("TenantRegistryTable")),
            "{role} reads the registry: {reads:?}"
        );
    }
}

/// A function runs one object version of its package (the artifact bucket is versioned), the
/// one scripts/deploy.sh uploaded and checked: a key written again later changes nothing.
#[test]
fn functions_run_a_pinned_object_version_of_their_package() {
    let t = template();
    let functions = resources_of(&t, "AWS::Lambda::Function");
    assert!(!functions.is_empty());
    for (id, function) in functions {
        let stem = id.strip_suffix("Function").expect(id);
        let code = &function["Properties"]["Code"];
        assert_eq!(code["S3Key"]["Ref"], format!("{stem}CodeKey"), "{id}");
        assert_eq!(
            code["S3ObjectVersion"]["Ref"],
            format!("{stem}CodeVersion"),
            "{id}"
        );
        assert_eq!(
            t["Parameters"][format!("{stem}CodeVersion")]["MinLength"],
            1,
            "{id}: an empty version would fall back to the latest object"
        );
    }
}

/// Web search stays off until a provider is configured; its queries' guardrail is in place
/// already: tool-target knows it, may apply it (and no other), and it blocks personal
/// information and patient ids on input.
#[test]
fn web_search_queries_have_a_guardrail_before_any_provider() {
    let t = template();
    let env = &t["Resources"]["ToolTargetFunction"]["Properties"]["Environment"]["Variables"];
    assert!(
        env.get("TENANTRY_WEB_SEARCH").is_none(),
        "web search stays latent"
    );
    assert_eq!(
        env["TENANTRY_WEB_QUERY_GUARDRAIL_ID"]["Fn::GetAtt"][0],
        "WebQueryGuardrail"
    );
    assert_eq!(
        env["TENANTRY_WEB_QUERY_GUARDRAIL_VERSION"]["Fn::GetAtt"],
        serde_json::json!(["WebQueryGuardrailVersion", "Version"])
    );
    let applies: Vec<_> = grants(&t, "bedrock:ApplyGuardrail")
        .into_iter()
        .filter(|(role, _)| role.as_str() == "ToolTargetRole")
        .collect();
    assert_eq!(applies.len(), 1);
    assert_eq!(
        applies[0].1,
        &serde_json::json!([{ "Fn::GetAtt": ["WebQueryGuardrail", "GuardrailArn"] }])
    );
    let policy =
        &t["Resources"]["WebQueryGuardrail"]["Properties"]["SensitiveInformationPolicyConfig"];
    let blocked: Vec<&str> = policy["PiiEntitiesConfig"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["Action"] == "BLOCK")
        .map(|e| e["Type"].as_str().unwrap())
        .collect();
    for kind in [
        "NAME",
        "ADDRESS",
        "PHONE",
        "EMAIL",
        "US_SOCIAL_SECURITY_NUMBER",
    ] {
        assert!(blocked.contains(&kind), "{kind}: {blocked:?}");
    }
    let regex = &policy["RegexesConfig"][0];
    assert_eq!(regex["Action"], "BLOCK");
    assert_eq!(regex["Pattern"], "\\b[pP]-[0-9]+\\b");
}

/// Budget alerts go to one encrypted topic, which only the agent runtimes may publish to, and
/// which each runtime is told about; the provider finds it in the outputs.
#[test]
fn budget_alerts_have_one_encrypted_topic_only_the_runtimes_publish_to() {
    let t = template();
    let topic = &t["Resources"]["BudgetAlertTopic"];
    assert_eq!(topic["Type"], "AWS::SNS::Topic");
    assert_eq!(topic["Properties"]["KmsMasterKeyId"], "alias/aws/sns");
    assert_eq!(
        t["Outputs"]["BudgetAlertTopicArn"]["Value"]["Ref"],
        "BudgetAlertTopic"
    );
    let mut publishers = Vec::new();
    for (id, role) in resources_of(&t, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if st["Action"].to_string().contains("sns:") {
                    assert_eq!(st["Effect"], "Allow", "{id}");
                    assert_eq!(st["Action"], serde_json::json!(["sns:Publish"]), "{id}");
                    assert_eq!(
                        st["Resource"],
                        serde_json::json!([{"Ref": "BudgetAlertTopic"}]),
                        "{id}"
                    );
                    publishers.push(id.clone());
                }
            }
        }
    }
    publishers.sort();
    assert_eq!(publishers, ["BasicRuntimeRole", "PremiumRuntimeRole"]);
    for (id, runtime) in resources_of(&t, "AWS::BedrockAgentCore::Runtime") {
        assert_eq!(
            runtime["Properties"]["EnvironmentVariables"]["TENANTRY_BUDGET_ALERT_TOPIC_ARN"]["Ref"],
            "BudgetAlertTopic",
            "{id}"
        );
    }
}
