//! The stack each test of this crate starts: its own prefix, run directory and Lambda port,
//! the binaries of this build.

use devstack::{DevStack, Options};

#[allow(dead_code, reason = "each test binary uses what it needs")]
pub async fn stack(name: &str) -> DevStack {
    stack_with(name, None).await
}

/// A stack of its own; `transfer_mode` overrides the template's (streamed) answers.
#[allow(dead_code, reason = "each test binary uses what it needs")]
pub async fn stack_with(
    name: &str,
    transfer_mode: Option<emulators::apigateway::TransferMode>,
) -> DevStack {
    stack_configured(name, |o| o.transfer_mode = transfer_mode).await
}

/// A stack of its own with `configure` applied to its options.
#[allow(dead_code, reason = "each test binary uses what it needs")]
pub async fn stack_configured(name: &str, configure: impl FnOnce(&mut Options)) -> DevStack {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = workspace.canonicalize().unwrap();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut options = Options::for_workspace(workspace.clone(), &format!("{name}{stamp}")).unwrap();
    // Binaries next to this package's own (target/debug), and stand-ins on free ports of
    // their own (bound, not guessed) so tests can run side by side.
    options.bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_devstack"))
        .parent()
        .unwrap()
        .to_owned();
    options.lambda_port = 0;
    options.run_dir = workspace.join(format!(".tools/run/e2e-{name}"));
    configure(&mut options);
    DevStack::start(options, &mut |_| {})
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the devstack did not start: {}\n(are the stand-ins running? scripts/test.sh starts them)",
                testkit::error_chain(&e)
            )
        })
}

/// Every request the deployed code sent to an emulated AWS API passed AWS's service model for
/// that API (botocore's), and each API was called: a conformance failure the code would have
/// swallowed (memory degrades quietly) still fails the test here.
#[allow(dead_code, reason = "each test binary uses what it needs")]
pub fn assert_conformant(stack: &DevStack, must_be_called: &[&str]) {
    let refused = stack.model_refusals();
    assert!(
        refused.is_empty(),
        "AWS's service models refused requests the stack sent:\n{}",
        refused.join("\n")
    );
    for (api, checks) in stack.model_checks() {
        if must_be_called.contains(&api) {
            assert!(checks.checked() > 0, "{api} was never called");
        }
    }
}
