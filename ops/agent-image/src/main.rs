//! `agent-image`: writes the agent's OCI image layout from its static binary; prints the
//! manifest digest (what `scripts/deploy.sh` deploys) on stdout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use agent_image::{ImageSpec, Platform, build};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlatformArg {
    /// linux/arm64, what AgentCore Runtime runs
    Arm64,
    /// linux/amd64, to start the image on an x86 machine
    Amd64,
}

/// Build the agent-runtime container image (OCI layout, no daemon, reproducible).
///
/// The image has one layer: the static binary at /usr/local/bin/agent-runtime, a CA bundle and
/// a non-root user (65532); no shell, no package manager, no base image. Push it with
/// `skopeo copy --preserve-digests oci:<out>:latest docker://<repository>:<tag>`.
#[derive(Debug, Parser)]
#[command(name = "agent-image", version)]
struct Args {
    /// The agent-runtime binary, built static for the platform
    /// (target aarch64-unknown-linux-musl for arm64).
    #[arg(long)]
    binary: PathBuf,
    /// The OCI layout directory to write (replaced if it exists).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "arm64")]
    platform: PlatformArg,
    /// PEM bundle of the CAs the agent trusts. Default: Mozilla's roots as the
    /// `webpki-root-certs` crate pinned in Cargo.lock carries them (not the build host's).
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// Image creation time, RFC 3339. Keep it fixed (e.g. the commit time) for a reproducible
    /// digest.
    #[arg(long, default_value = "1970-01-01T00:00:00Z")]
    created: String,
    /// An image label, `key=value` (repeatable), e.g.
    /// `org.opencontainers.image.revision=<git sha>`.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
}

fn run(args: Args) -> Result<String, String> {
    let read = |p: &PathBuf, what: &str| {
        std::fs::read(p).map_err(|e| format!("cannot read the {what} {}: {e}", p.display()))
    };
    let binary = read(&args.binary, "binary")?;
    let ca_bundle = match &args.ca_bundle {
        Some(path) => read(path, "CA bundle")?,
        None => agent_image::pinned_pem_bundle(),
    };
    let mut labels = BTreeMap::new();
    for l in &args.labels {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| format!("--label {l}: expected KEY=VALUE"))?;
        labels.insert(k.to_owned(), v.to_owned());
    }
    let platform = match args.platform {
        PlatformArg::Arm64 => Platform::Arm64,
        PlatformArg::Amd64 => Platform::Amd64,
    };
    let built = build(
        &ImageSpec {
            binary: &binary,
            ca_bundle: &ca_bundle,
            platform,
            created: args.created,
            labels,
        },
        &args.out,
    )
    .map_err(|e| e.to_string())?;
    eprintln!(
        "wrote {} (one layer, {} KiB compressed)",
        built.dir.display(),
        built.layer_bytes / 1024
    );
    Ok(built.manifest_digest)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(digest) => {
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
