//! TOOLING, never deployed. Runs AWS's own code (`scripts/conformance/aws_reference.py`: the
//! official Bedrock token generator, botocore's signer and serializer, all pinned in
//! `scripts/tools/requirements.txt` and installed into `.tools/venv`) so that tests can compare
//! what the project builds by hand with what AWS's implementation builds from the same inputs.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root (this crate lives in `dev/aws-conformance`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}

/// The project's Python with AWS's packages (`.tools/venv`).
pub fn python() -> PathBuf {
    workspace_root().join(".tools/venv/bin/python")
}

/// Runs `scripts/conformance/<script>` with `args`, `input` on stdin; its stdout as JSON.
/// Panics with what to do when the tools are not installed: a missing reference must fail a
/// test, never skip it.
pub fn run_reference(script: &str, args: &[&str], input: &Value) -> Value {
    let python = python();
    assert!(
        python.exists(),
        "{} not found: run scripts/install-standins.sh (it installs AWS's reference packages)",
        python.display()
    );
    let path = workspace_root().join("scripts/conformance").join(script);
    let mut child = Command::new(&python)
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to {}: {e}", path.display()));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{} did not finish: {e}", path.display()));
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// What AWS's code answers for one `aws_reference.py` command.
pub fn aws_reference(command: &str, input: &Value) -> Value {
    run_reference("aws_reference.py", &[command], input)
}
