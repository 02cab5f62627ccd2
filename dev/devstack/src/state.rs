//! The running stack, described in `.tools/run/devstack.json` for scripts and clients (chat,
//! token): URLs, the user pool, and the demo users' stand-in passwords (the file is mode 600).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{DemoUser, StackError};

pub const STATE_FILE: &str = "devstack.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentInfo {
    pub tier: String,
    pub url: String,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    /// `POST` here with `Authorization: Bearer <ID token>` and `{"prompt": ...}`.
    pub api_url: String,
    /// The web chat.
    pub web_url: String,
    pub moto_url: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub lambda_url: String,
    pub runtime_url: String,
    pub model_url: String,
    pub memory_url: String,
    pub knowledge_base_url: String,
    pub guardrail_url: String,
    /// tier -> Gateway MCP URL
    pub gateways: BTreeMap<String, String>,
    pub agents: Vec<AgentInfo>,
    pub users: Vec<DemoUser>,
    /// The `devstack up` process.
    pub pid: u32,
}

impl StackInfo {
    /// Writes the file readable by its owner only (it holds the demo users' passwords).
    pub fn write(&self, run_dir: &Path) -> Result<PathBuf, StackError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = run_dir.join(STATE_FILE);
        let tmp = run_dir.join(format!("{STATE_FILE}.tmp"));
        let io = |e: std::io::Error| StackError::Setup {
            what: format!("write {}: {e}", path.display()),
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| StackError::Setup {
            what: e.to_string(),
        })?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        // Renamed into place: a reader never sees half a file (scripts wait for it to appear).
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    pub fn read(run_dir: &Path) -> Result<Self, StackError> {
        let path = run_dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|_| StackError::Setup {
            what: format!(
                "no running devstack ({} is missing): start it with scripts/devstack.sh up",
                path.display()
            ),
        })?;
        serde_json::from_str(&text).map_err(|e| StackError::Setup {
            what: format!("{}: {e}", path.display()),
        })
    }

    pub fn user(&self, clinic: &str) -> Result<&DemoUser, StackError> {
        self.users
            .iter()
            .find(|u| u.clinic_id == clinic)
            .ok_or_else(|| StackError::Setup {
                what: format!(
                    "no demo user for clinic {clinic}; the clinics are: {}",
                    self.users
                        .iter()
                        .map(|u| u.clinic_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}
