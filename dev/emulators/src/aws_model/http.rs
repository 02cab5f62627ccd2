//! A request on the wire and an operation's input, both ways, as the protocols place members:
//! REST-JSON (path labels, query string, headers, a payload or a JSON body) and JSON (the
//! input as the body, the operation in `X-Amz-Target`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::{Map, Value};

use super::{Operation, Protocol, ServiceModel, Violation};

/// A request as an emulation receives it: the path and query still percent-encoded.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An operation's input read from a request.
#[derive(Debug, Clone, Default)]
pub struct ParsedInput {
    /// The input structure's members, by member name; a blob payload as base64 text (so that
    /// its length is checked in bytes, as in a JSON body).
    pub members: Value,
}

/// RFC 3986's unreserved characters stay; the SDKs encode everything else in a label.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// A greedy label (`{Key+}`) keeps its slashes.
const GREEDY: &AsciiSet = &LABEL.remove(b'/');

enum Segment<'a> {
    Literal(&'a str),
    Label(&'a str),
    Greedy(&'a str),
}

fn segments(template_path: &str) -> Vec<Segment<'_>> {
    template_path
        .split('/')
        .skip(1)
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy),
                    None => Segment::Label(name),
                },
                None => Segment::Literal(s),
            },
        )
        .collect()
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The labels of `path` when it matches `op`'s request URI (method, path, literal query
/// parts), decoded; `None` when it does not.
pub(crate) fn route(
    op: &Operation,
    method: &str,
    path: &str,
    query: &str,
) -> Option<Vec<(String, String)>> {
    if !op.method.eq_ignore_ascii_case(method) {
        return None;
    }
    let (template_path, template_query) = op
        .request_uri
        .split_once('?')
        .unwrap_or((op.request_uri.as_str(), ""));
    let pairs = query_pairs(query);
    for literal in template_query.split('&').filter(|q| !q.is_empty()) {
        let (k, v) = literal.split_once('=').unwrap_or((literal, ""));
        if !pairs
            .iter()
            .any(|(pk, pv)| pk == k && (v.is_empty() || pv == v))
        {
            return None;
        }
    }
    // botocore writes some request URIs with a trailing slash (StartIngestionJob's
    // `.../ingestionjobs/`) where the Smithy model, and so the AWS SDKs, send none: AWS serves
    // both, so a trailing slash is optional on either side.
    let wanted = segments(template_path.strip_suffix('/').unwrap_or(template_path));
    let given: Vec<&str> = path
        .strip_suffix('/')
        .unwrap_or(path)
        .split('/')
        .skip(1)
        .collect();
    let mut labels = Vec::new();
    let mut i = 0;
    for (n, segment) in wanted.iter().enumerate() {
        match segment {
            Segment::Literal(l) => {
                if given.get(i) != Some(l) {
                    return None;
                }
                i += 1;
            }
            Segment::Label(name) => {
                let raw = given.get(i).filter(|s| !s.is_empty())?;
                labels.push(((*name).to_owned(), decode(raw)));
                i += 1;
            }
            Segment::Greedy(name) => {
                // The rest, but for the literal segments that follow it.
                let tail = wanted.len() - n - 1;
                let end = given.len().checked_sub(tail)?;
                if end <= i {
                    return None;
                }
                labels.push(((*name).to_owned(), decode(&given[i..end].join("/"))));
                i = end;
            }
        }
    }
    (i == given.len()).then_some(labels)
}

fn decode(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// Which of `operations` a request is for (by route for REST, by target for JSON).
pub(crate) fn find<'a>(
    model: &ServiceModel,
    operations: &[&'a Operation],
    req: &HttpRequest,
) -> Option<&'a Operation> {
    match model.protocol {
        Protocol::RestJson => operations
            .iter()
            .find(|op| route(op, &req.method, &req.path, &req.query).is_some())
            .copied(),
        Protocol::Json => {
            let target = req.header("x-amz-target")?;
            let (prefix, name) = target.rsplit_once('.')?;
            if model.target_prefix.as_deref().is_some_and(|p| p != prefix) {
                return None;
            }
            operations.iter().find(|op| op.name == name).copied()
        }
        Protocol::Query => {
            let form = String::from_utf8_lossy(&req.body);
            let pairs = query_pairs(&form);
            let action = pairs.iter().find(|(k, _)| k == "Action")?.1.clone();
            operations.iter().find(|op| op.name == action).copied()
        }
    }
}

fn typed(model: &ServiceModel, shape: &str, text: &str) -> Value {
    match model.shape(shape)["type"].as_str() {
        Some("integer" | "long" | "short" | "byte") => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        Some("float" | "double") => text
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        Some("boolean") => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        Some("list") => Value::Array(
            text.split(',')
                .map(|s| Value::String(s.trim().to_owned()))
                .collect(),
        ),
        _ => Value::String(text.to_owned()),
    }
}

fn member_name<'m>(name: &'m str, member: &'m Value) -> &'m str {
    member["locationName"].as_str().unwrap_or(name)
}

/// The input an operation's request carries; a body that is not JSON where JSON is due is a
/// `SerializationException`-like violation.
pub(crate) fn parse(
    model: &ServiceModel,
    op: &Operation,
    req: &HttpRequest,
) -> Result<ParsedInput, Vec<Violation>> {
    let Some(input_shape) = &op.input else {
        return Ok(ParsedInput {
            members: Value::Object(Map::new()),
        });
    };
    let shape = model.shape(input_shape);
    let not_json = || {
        vec![Violation {
            path: "body".into(),
            constraint: "Member must be a JSON object".into(),
        }]
    };
    let json_body = |body: &[u8]| -> Result<Map<String, Value>, Vec<Violation>> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(not_json()),
        }
    };
    match model.protocol {
        Protocol::Json => Ok(ParsedInput {
            members: Value::Object(json_body(&req.body)?),
        }),
        Protocol::Query => Ok(ParsedInput {
            // Form fields are not mapped onto the shapes here: the query protocol's lists
            // and maps (`Tags.member.1.Key`) are not validated.
            members: Value::Object(Map::new()),
        }),
        Protocol::RestJson => {
            let labels = route(op, &req.method, &req.path, &req.query).unwrap_or_default();
            let pairs = query_pairs(&req.query);
            let payload = shape["payload"].as_str();
            let mut members = Map::new();
            let mut body_members = Map::new();
            for (name, member) in shape["members"].as_object().into_iter().flatten() {
                let target = member["shape"].as_str().unwrap_or("");
                let wire = member_name(name, member);
                match member["location"].as_str() {
                    Some("uri") => {
                        if let Some((_, v)) = labels.iter().find(|(l, _)| l == wire) {
                            members.insert(name.clone(), typed(model, target, v));
                        }
                    }
                    Some("querystring") => {
                        let values: Vec<&String> = pairs
                            .iter()
                            .filter(|(k, _)| k == wire)
                            .map(|(_, v)| v)
                            .collect();
                        if model.shape(target)["type"] == "list" {
                            if !values.is_empty() {
                                members.insert(
                                    name.clone(),
                                    Value::Array(
                                        values
                                            .iter()
                                            .map(|v| Value::String((*v).clone()))
                                            .collect(),
                                    ),
                                );
                            }
                        } else if let Some(v) = values.first() {
                            members.insert(name.clone(), typed(model, target, v));
                        }
                    }
                    Some("header") => {
                        if let Some(v) = req.header(wire) {
                            members.insert(name.clone(), typed(model, target, v));
                        }
                    }
                    // Prefix header maps (`headers`) are not validated.
                    Some(_) => {}
                    None if Some(name.as_str()) == payload => {
                        match model.shape(target)["type"].as_str() {
                            // On the wire an empty blob and no blob are the same body; an
                            // empty body is taken for none where the payload is required
                            // (no SDK sends a required payload empty).
                            Some("blob")
                                if req.body.is_empty()
                                    && shape["required"]
                                        .as_array()
                                        .is_some_and(|r| r.iter().any(|n| n == name.as_str())) => {}
                            Some("blob") => {
                                use base64::Engine as _;
                                members.insert(
                                    name.clone(),
                                    Value::String(
                                        base64::engine::general_purpose::STANDARD.encode(&req.body),
                                    ),
                                );
                            }
                            Some("string") => {
                                members.insert(
                                    name.clone(),
                                    Value::String(String::from_utf8_lossy(&req.body).into_owned()),
                                );
                            }
                            _ => {
                                let body = json_body(&req.body)?;
                                if !body.is_empty() {
                                    members.insert(name.clone(), Value::Object(body));
                                }
                            }
                        }
                    }
                    None => {
                        body_members.insert(wire.to_owned(), Value::String(name.clone()));
                    }
                }
            }
            if payload.is_none() {
                let body = json_body(&req.body)?;
                for (wire, value) in body {
                    let name = body_members
                        .get(&wire)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or(wire);
                    members.insert(name, value);
                }
            }
            let parsed = ParsedInput {
                members: Value::Object(members),
            };
            Ok(parsed)
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The request an SDK would send for `input` (the test direction: mutated inputs on the wire).
pub fn serialize(model: &ServiceModel, op: &Operation, input: &Value) -> HttpRequest {
    let empty = Map::new();
    let members = input.as_object().unwrap_or(&empty);
    let mut req = HttpRequest {
        method: op.method.clone(),
        ..HttpRequest::default()
    };
    let shape = op
        .input
        .as_deref()
        .map(|s| model.shape(s))
        .unwrap_or(&Value::Null);
    match model.protocol {
        Protocol::Json => {
            req.headers.push((
                "x-amz-target".into(),
                format!(
                    "{}.{}",
                    model.target_prefix.as_deref().unwrap_or(""),
                    op.name
                ),
            ));
            req.headers
                .push(("content-type".into(), "application/x-amz-json-1.1".into()));
            req.path = "/".into();
            req.body = serde_json::to_vec(input).unwrap_or_default();
            return req;
        }
        Protocol::Query => {
            req.path = "/".into();
            req.body = format!("Action={}", op.name).into_bytes();
            return req;
        }
        Protocol::RestJson => {}
    }
    let (template_path, template_query) = op
        .request_uri
        .split_once('?')
        .unwrap_or((op.request_uri.as_str(), ""));
    let mut path = template_path.to_owned();
    let mut query: Vec<String> = template_query
        .split('&')
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .collect();
    let payload = shape["payload"].as_str();
    let mut body = Map::new();
    for (name, member) in shape["members"].as_object().into_iter().flatten() {
        let Some(value) = members.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let wire = member_name(name, member);
        match member["location"].as_str() {
            Some("uri") => {
                let text = text_of(value);
                path = path
                    .replace(
                        &format!("{{{wire}+}}"),
                        &utf8_percent_encode(&text, GREEDY).to_string(),
                    )
                    .replace(
                        &format!("{{{wire}}}"),
                        &utf8_percent_encode(&text, LABEL).to_string(),
                    );
            }
            Some("querystring") => {
                let values = match value {
                    Value::Array(items) => items.iter().map(text_of).collect(),
                    other => vec![text_of(other)],
                };
                for v in values {
                    query.push(format!(
                        "{}={}",
                        utf8_percent_encode(wire, LABEL),
                        utf8_percent_encode(&v, LABEL)
                    ));
                }
            }
            Some("header") => req
                .headers
                .push((wire.to_ascii_lowercase(), text_of(value))),
            Some(_) => {}
            None if Some(name.as_str()) == payload => {
                let kind = model.shape(member["shape"].as_str().unwrap_or(""))["type"].clone();
                req.body = match (value, kind.as_str()) {
                    (Value::String(s), Some("blob")) => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD
                            .decode(s)
                            .unwrap_or_else(|_| s.clone().into_bytes())
                    }
                    (Value::String(s), _) => s.clone().into_bytes(),
                    (other, _) => serde_json::to_vec(other).unwrap_or_default(),
                };
            }
            None => {
                body.insert(wire.to_owned(), value.clone());
            }
        }
    }
    // A label left out leaves an empty path segment: no operation's route.
    for (name, member) in shape["members"].as_object().into_iter().flatten() {
        if member["location"] == "uri" {
            let wire = member_name(name, member);
            path = path
                .replace(&format!("{{{wire}+}}"), "")
                .replace(&format!("{{{wire}}}"), "");
        }
    }
    if payload.is_none() && !body.is_empty() {
        req.body = serde_json::to_vec(&body).unwrap_or_default();
    }
    if !req.body.is_empty() && req.header("content-type").is_none() {
        req.headers
            .push(("content-type".into(), "application/json".into()));
    }
    req.path = path;
    req.query = query.join("&");
    req
}
