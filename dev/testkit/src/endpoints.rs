use crate::error::Error;

/// Where `scripts/standins.sh` tells the processes it starts to find the stand-ins.
pub const ENV_MOTO_URL: &str = "TENANTRY_MOTO_URL";
pub const ENV_DYNAMODB_URL: &str = "TENANTRY_DYNAMODB_URL";
/// The Region every stand-in call uses. moto puts it in Cognito issuer URLs.
pub const STANDIN_REGION: &str = "us-east-1";

/// Loopback URLs of the running stand-ins.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub moto_url: String,
    pub dynamodb_url: Option<String>,
}

fn loopback(var: &'static str, url: String) -> Result<String, Error> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(Error::NotLoopback { var })?;
    let host = rest.split([':', '/']).next().unwrap_or_default();
    if host == "127.0.0.1" || host == "localhost" {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(Error::NotLoopback { var })
    }
}

impl Endpoints {
    /// Reads `TENANTRY_MOTO_URL` (required) and `TENANTRY_DYNAMODB_URL` (optional).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let moto_url = get(ENV_MOTO_URL).ok_or(Error::NotConfigured { var: ENV_MOTO_URL })?;
        let moto_url = loopback(ENV_MOTO_URL, moto_url)?;
        let dynamodb_url = get(ENV_DYNAMODB_URL)
            .map(|u| loopback(ENV_DYNAMODB_URL, u))
            .transpose()?;
        Ok(Self {
            moto_url,
            dynamodb_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_accepted() {
        let ok = Endpoints::from_lookup(|_| Some("http://127.0.0.1:27151/".into())).unwrap();
        assert_eq!(ok.moto_url, "http://127.0.0.1:27151");
        for bad in [
            "https://cognito-idp.us-east-1.amazonaws.com",
            "http://10.0.0.5:5000",
            "http://127.0.0.1.example.com",
        ] {
            assert!(
                matches!(
                    Endpoints::from_lookup(|_| Some(bad.into())),
                    Err(Error::NotLoopback { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Endpoints::from_lookup(|_| None),
            Err(Error::NotConfigured { .. })
        ));
    }
}
