//! The S3 API of the moto STAND-IN, for the four calls the devstack makes: create a bucket, put,
//! list (ListObjectsV2) and get objects, SigV4-signed with the stand-in's credentials (moto
//! refuses unsigned object reads). Over reqwest and aws-sigv4 because the AWS SDK's S3 crate
//! would add minutes of build time for these four calls.

use aws_smithy_xml::decode::{Document, try_data};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::endpoints::Endpoints;
use crate::error::Error;

/// Characters left as they are in a key's path (S3 keys keep `/` as the separator).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone)]
pub struct LocalS3 {
    http: reqwest::Client,
    endpoint: String,
    credentials: aws_credential_types::Credentials,
}

fn failed(op: &'static str) -> impl FnOnce(reqwest::Error) -> Error {
    move |e| Error::Call {
        op,
        source: Box::new(e),
    }
}

fn status(op: &'static str, resp: &reqwest::Response) -> Result<(), Error> {
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(Error::Call {
            op,
            source: format!("HTTP {}", resp.status()).into(),
        })
    }
}

impl LocalS3 {
    pub fn new(endpoints: &Endpoints) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: endpoints.moto_url.clone(),
            credentials: aws_credential_types::Credentials::new(
                "standin", "standin", None, None, "stand-in",
            ),
        }
    }

    /// A signed request (S3 wants the payload's SHA-256 in `x-amz-content-sha256`).
    async fn send(
        &self,
        op: &'static str,
        method: &str,
        url: String,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, Error> {
        use sha2::Digest as _;
        let hash: String = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut req = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-amz-content-sha256", hash)
            .header("content-type", "application/octet-stream")
            .body(body)
            .map_err(|e| Error::Call {
                op,
                source: Box::new(e),
            })?;
        request_signing::sign_request(
            &self.credentials,
            crate::STANDIN_REGION,
            "s3",
            std::time::SystemTime::now(),
            &mut req,
        )
        .map_err(|e| Error::Call {
            op,
            source: Box::new(e),
        })?;
        let req = reqwest::Request::try_from(req).map_err(failed(op))?;
        self.http.execute(req).await.map_err(failed(op))
    }

    fn url(&self, bucket: &str, key: &str) -> String {
        format!(
            "{}/{bucket}/{}",
            self.endpoint,
            utf8_percent_encode(key, KEY)
        )
    }

    /// Creates the bucket (an existing one of ours is fine).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), Error> {
        let resp = self
            .send(
                "S3 CreateBucket",
                "PUT",
                format!("{}/{bucket}", self.endpoint),
                vec![],
            )
            .await?;
        if resp.status().as_u16() == 409 {
            return Ok(());
        }
        status("S3 CreateBucket", &resp)
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), Error> {
        let resp = self
            .send("S3 PutObject", "PUT", self.url(bucket, key), body)
            .await?;
        status("S3 PutObject", &resp)
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
        let resp = self
            .send("S3 GetObject", "GET", self.url(bucket, key), vec![])
            .await?;
        status("S3 GetObject", &resp)?;
        Ok(resp.bytes().await.map_err(failed("S3 GetObject"))?.to_vec())
    }

    /// Every key under `prefix`, following continuation tokens.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/{bucket}?list-type=2&prefix={}",
                self.endpoint,
                utf8_percent_encode(prefix, NON_ALPHANUMERIC)
            );
            if let Some(t) = &token {
                url.push_str("&continuation-token=");
                url.extend(utf8_percent_encode(t, NON_ALPHANUMERIC));
            }
            let resp = self.send("S3 ListObjectsV2", "GET", url, vec![]).await?;
            status("S3 ListObjectsV2", &resp)?;
            let xml = resp.text().await.map_err(failed("S3 ListObjectsV2"))?;
            let page = parse_list(&xml)?;
            keys.extend(page.keys);
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
    }
}

struct ListPage {
    keys: Vec<String>,
    next: Option<String>,
}

fn parse_list(xml: &str) -> Result<ListPage, Error> {
    let bad = |e: aws_smithy_xml::decode::XmlDecodeError| Error::Call {
        op: "S3 ListObjectsV2",
        source: Box::new(e),
    };
    let mut doc = Document::new(xml);
    let mut root = doc.root_element().map_err(bad)?;
    let (mut keys, mut truncated, mut next) = (Vec::new(), false, None);
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().matches("Contents") {
            while let Some(mut field) = tag.next_tag() {
                if field.start_el().matches("Key") {
                    keys.push(try_data(&mut field).map_err(bad)?.into_owned());
                }
            }
        } else if tag.start_el().matches("IsTruncated") {
            truncated = try_data(&mut tag).map_err(bad)? == "true";
        } else if tag.start_el().matches("NextContinuationToken") {
            next = Some(try_data(&mut tag).map_err(bad)?.into_owned());
        }
    }
    Ok(ListPage {
        keys,
        next: next.filter(|_| truncated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_gives_its_keys_and_where_to_go_on() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>basic-tier/</Prefix><KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated><NextContinuationToken>abc</NextContinuationToken>
  <Contents><Key>basic-tier/clinic-a/lab-results/a.md</Key><Size>10</Size></Contents>
  <Contents><Key>basic-tier/clinic-a/lab-results/a.md.metadata.json</Key></Contents>
</ListBucketResult>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.keys.len(), 2);
        assert_eq!(page.keys[0], "basic-tier/clinic-a/lab-results/a.md");
        assert_eq!(page.next.as_deref(), Some("abc"));
    }
}
