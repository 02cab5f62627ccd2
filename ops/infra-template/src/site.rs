//! The web chat on AWS: the page's files in a private bucket, one CloudFront distribution in
//! front of them and of the API (so the page calls `/api/...` on its own origin: no CORS), and
//! sign-in with Cognito's managed login (authorization code with PKCE) on the stack's app client.

use serde_json::json;

use crate::api::{ORIGIN_VERIFY_HEADER, ORIGIN_VERIFY_PARAMETER};
use crate::cfn::{checkov_skips, get_att, reference, sub, tag_list};
use crate::ids;
use crate::shared::{APP_TAGS, bucket_policy, bucket_properties};
use crate::{Error, Template};

/// CloudFront's managed policies (fixed ids, the same in every account).
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// Every viewer header but Host (API Gateway routes by its own host name). With caching
/// disabled this also forwards `Authorization`.
const ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

/// The path under which the distribution passes requests on to the API: the page posts to
/// `api/<stage>/invoke`.
pub const API_PATH_PREFIX: &str = "/api";

/// Strips the `/api` prefix before the request reaches API Gateway (CloudFront forwards the
/// viewer's path as it is). CloudFront Functions' own JavaScript runtime.
const STRIP_API_PREFIX: &str = "function handler(event) {\n  var request = event.request;\n  request.uri = request.uri.replace(/^\\/api(?=\\/)/, '');\n  return request;\n}\n";

/// The parameter naming the edge stack's web ACL (`scripts/deploy.sh` deploys it first).
const EDGE_WEB_ACL_PARAMETER: &str = "EdgeWebAclArn";

pub fn add(t: &mut Template) -> Result<(), Error> {
    t.parameter(
        EDGE_WEB_ACL_PARAMETER,
        json!({
            "Type": "String",
            "AllowedPattern": "^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/.+$",
            "Description": "The CloudFront-scope web ACL of the edge stack (infra/edge-template.json, in us-east-1; scripts/deploy.sh deploys it and passes its ARN)."
        }),
    )?;
    t.resource(
        ids::SITE_BUCKET,
        json!({
            "Type": "AWS::S3::Bucket",
            "Metadata": checkov_skips(&[
                ("CKV_AWS_145", "The page's public files (HTML, CSS, JavaScript; no data): S3-managed encryption, which CloudFront's origin access control reads without a grant on the data key."),
                ("CKV_AWS_18", "Only CloudFront reads it (origin access control) and the files are public; the access-log bucket takes the document buckets' logs only, under the data key.")
            ]),
            "Properties": bucket_properties(json!({
                "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" }
            }), json!({
                "BucketName": sub("${NamePrefix}-web-${AWS::AccountId}-${AWS::Region}"),
                "LifecycleConfiguration": { "Rules": [{
                    "Id": "expire-old-page-versions",
                    "Status": "Enabled",
                    "NoncurrentVersionExpiration": { "NoncurrentDays": 30 }
                }]},
                "Tags": tag_list(&APP_TAGS)
            }))
        }),
    )?;
    t.resource(
        "SiteOriginAccessControl",
        json!({
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": { "OriginAccessControlConfig": {
                "Name": sub("${NamePrefix}-web-${AWS::Region}"),
                "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always",
                "SigningProtocol": "sigv4"
            }}
        }),
    )?;
    bucket_policy(
        t,
        ids::SITE_BUCKET,
        vec![json!(
                        {
                            "Sid": "ReadByThisDistributionOnly",
                            "Effect": "Allow",
                            "Principal": { "Service": "cloudfront.amazonaws.com" },
                            "Action": "s3:GetObject",
                            "Resource": sub("${SiteBucket.Arn}/*"),
                            "Condition": { "StringEquals": {
                                "AWS:SourceArn": sub("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SiteDistribution}")
                            }}
                        }
        )],
    )?;
    t.resource(
        "SiteApiPathFunction",
        json!({
            "Type": "AWS::CloudFront::Function",
            "Properties": {
                "Name": sub("${NamePrefix}-api-path-${AWS::Region}"),
                "AutoPublish": true,
                "FunctionCode": STRIP_API_PREFIX,
                "FunctionConfig": {
                    "Comment": "Strips /api before the request reaches API Gateway",
                    "Runtime": "cloudfront-js-2.0"
                }
            }
        }),
    )?;
    t.resource(
        "SiteHeadersPolicy",
        json!({
            "Type": "AWS::CloudFront::ResponseHeadersPolicy",
            "Properties": { "ResponseHeadersPolicyConfig": {
                "Name": sub("${NamePrefix}-web-${AWS::Region}"),
                "Comment": "The page talks only to its own origin and the user pool's sign-in domain",
                "SecurityHeadersConfig": {
                    "ContentSecurityPolicy": {
                        "ContentSecurityPolicy": sub("default-src 'self'; connect-src 'self' https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
                        "Override": true
                    },
                    "StrictTransportSecurity": { "AccessControlMaxAgeSec": 63_072_000, "IncludeSubdomains": true, "Preload": false, "Override": true },
                    "ContentTypeOptions": { "Override": true },
                    "FrameOptions": { "FrameOption": "DENY", "Override": true },
                    "ReferrerPolicy": { "ReferrerPolicy": "no-referrer", "Override": true }
                }
            }}
        }),
    )?;
    t.resource(
        ids::SITE_DISTRIBUTION,
        json!({
            "Type": "AWS::CloudFront::Distribution",
            "Metadata": checkov_skips(&[
                ("CKV_AWS_86", "CloudFront's standard logs need ACLs on their bucket, which the stack's buckets disable; API requests are logged by the API stage's access log, page files are public."),
                ("CKV_AWS_174", "The default *.cloudfront.net certificate (TLS 1.2+ negotiated by CloudFront); a custom domain with its own certificate and minimum protocol is a deployment choice."),
                ("CKV_AWS_310", "One origin per behaviour by design: the page and the API; an origin group would need a second copy of each."),
                ("CKV_AWS_374", "Clinics are not limited by country here; add geo restrictions per deployment if required.")
            ]),
            "Properties": { "DistributionConfig": {
                "Enabled": true,
                "Comment": sub("${NamePrefix} web chat and API"),
                "DefaultRootObject": "index.html",
                "HttpVersion": "http2and3",
                "IPV6Enabled": true,
                "PriceClass": "PriceClass_100",
                // The edge stack's web ACL (us-east-1): the per-client rule sees each client's
                // own address, which the regional one behind CloudFront cannot.
                "WebACLId": reference(EDGE_WEB_ACL_PARAMETER),
                "Origins": [
                    {
                        "Id": "site",
                        "DomainName": get_att(ids::SITE_BUCKET, "RegionalDomainName"),
                        "OriginAccessControlId": get_att("SiteOriginAccessControl", "Id"),
                        "S3OriginConfig": { "OriginAccessIdentity": "" }
                    },
                    {
                        "Id": "api",
                        "DomainName": sub("${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
                        // Tells the regional web ACL the request came through the distribution
                        // (a viewer's header of the same name is replaced by this one).
                        "OriginCustomHeaders": [{
                            "HeaderName": ORIGIN_VERIFY_HEADER,
                            "HeaderValue": reference(ORIGIN_VERIFY_PARAMETER)
                        }],
                        "CustomOriginConfig": {
                            "HTTPSPort": 443,
                            "OriginProtocolPolicy": "https-only",
                            "OriginSSLProtocols": ["TLSv1.2"],
                            // Between bytes of a streamed answer, the longest CloudFront allows
                            // without a quota increase.
                            "OriginReadTimeout": 60,
                            "OriginKeepaliveTimeout": 5
                        }
                    }
                ],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "site",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "Compress": true,
                    "CachePolicyId": CACHING_OPTIMIZED,
                    "ResponseHeadersPolicyId": reference("SiteHeadersPolicy")
                },
                "CacheBehaviors": [{
                    "PathPattern": format!("{API_PATH_PREFIX}/*"),
                    "TargetOriginId": "api",
                    "ViewerProtocolPolicy": "https-only",
                    "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                    // Answers are per user and carry patient data: never cached.
                    "CachePolicyId": CACHING_DISABLED,
                    "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
                    "ResponseHeadersPolicyId": reference("SiteHeadersPolicy"),
                    "Compress": false,
                    "FunctionAssociations": [{
                        "EventType": "viewer-request",
                        "FunctionARN": get_att("SiteApiPathFunction", "FunctionMetadata.FunctionARN")
                    }]
                }],
                "ViewerCertificate": { "CloudFrontDefaultCertificate": true }
            },
            "Tags": tag_list(&APP_TAGS)
            }
        }),
    )?;
    // Cognito's managed login for the page (a prefix domain; a custom domain needs a
    // certificate in us-east-1).
    t.resource(
        ids::USER_POOL_DOMAIN,
        json!({
            "Type": "AWS::Cognito::UserPoolDomain",
            "Properties": {
                "UserPoolId": reference(ids::USER_POOL),
                "Domain": sub("${NamePrefix}-${AWS::AccountId}")
            }
        }),
    )?;
    t.output(
        "WebUrl",
        "The web chat (scripts/deploy.sh uploads the page and its config.json)",
        sub("https://${SiteDistribution.DomainName}/"),
    )?;
    t.output(
        "SiteBucketName",
        "Where scripts/deploy.sh uploads the web chat",
        reference(ids::SITE_BUCKET),
    )?;
    t.output(
        "SiteDistributionId",
        "The web chat's CloudFront distribution (scripts/deploy.sh invalidates it after an upload)",
        reference(ids::SITE_DISTRIBUTION),
    )?;
    t.output(
        "SignInUrl",
        "Cognito's managed login for the web chat (authorization code with PKCE)",
        sub("https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"),
    )
}
