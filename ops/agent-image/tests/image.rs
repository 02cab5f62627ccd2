//! The image layout, checked the way a registry and a container runtime read it.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use agent_image::{ImageError, ImageSpec, Platform, USER_ID, build, check_binary};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// A minimal 64-bit little-endian ELF executable header with one program header.
fn elf(machine: u16, segment_type: u32) -> Vec<u8> {
    let mut b = vec![0u8; 64 + 56];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // 64-bit
    b[5] = 1; // little endian
    b[6] = 1; // version
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    b[64..68].copy_from_slice(&segment_type.to_le_bytes());
    b.extend_from_slice(b"agent code");
    b
}

const EM_AARCH64: u16 = 183;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let bytes = std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(sha(&bytes), digest, "a blob's name is its digest");
    bytes
}

fn spec(binary: &[u8]) -> ImageSpec<'_> {
    ImageSpec {
        binary,
        ca_bundle: b"-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n",
        platform: Platform::Arm64,
        created: "2026-12-01T00:00:00Z".into(),
        labels: BTreeMap::from([(
            "org.opencontainers.image.revision".to_owned(),
            "abc123".to_owned(),
        )]),
    }
}

#[test]
fn only_a_static_binary_of_the_images_platform_goes_in() {
    assert!(check_binary(&elf(EM_AARCH64, PT_LOAD), Platform::Arm64).is_ok());
    assert!(matches!(
        check_binary(&elf(EM_X86_64, PT_LOAD), Platform::Arm64),
        Err(ImageError::WrongArchitecture { .. })
    ));
    assert!(matches!(
        check_binary(&elf(EM_AARCH64, PT_INTERP), Platform::Arm64),
        Err(ImageError::NotStatic { .. })
    ));
    assert!(matches!(
        check_binary(b"#!/bin/sh\necho hi\n", Platform::Arm64),
        Err(ImageError::NotElf(_))
    ));
    // A real binary of this machine (glibc, dynamic): refused for both platforms, saying why.
    let host = std::fs::read(env!("CARGO_BIN_EXE_agent-image")).unwrap();
    let err = check_binary(&host, Platform::Arm64)
        .unwrap_err()
        .to_string();
    assert!(err.contains("aarch64-unknown-linux-musl"), "{err}");
    if cfg!(all(target_arch = "x86_64", target_env = "gnu")) {
        assert!(matches!(
            check_binary(&host, Platform::Amd64),
            Err(ImageError::NotStatic { .. })
        ));
    }
}

#[test]
fn the_layout_is_what_a_registry_and_a_runtime_read() {
    let dir = tempdir("layout");
    let binary = elf(EM_AARCH64, PT_LOAD);
    let built = build(&spec(&binary), &dir).unwrap();

    let layout: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["digest"], built.manifest_digest.as_str());
    assert_eq!(entry["platform"]["architecture"], "arm64");
    assert_eq!(entry["platform"]["os"], "linux");
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );

    let manifest_bytes = blob(&dir, &built.manifest_digest);
    assert_eq!(entry["size"].as_u64().unwrap(), manifest_bytes.len() as u64);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    let config_bytes = blob(&dir, manifest["config"]["digest"].as_str().unwrap());
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["os"], "linux");
    let c = &config["config"];
    assert_eq!(c["User"], format!("{USER_ID}:{USER_ID}"), "never root");
    assert_eq!(c["Entrypoint"][0], agent_image::ENTRYPOINT);
    assert!(c["ExposedPorts"].get("8080/tcp").is_some());
    assert_eq!(c["Labels"]["org.opencontainers.image.revision"], "abc123");

    let layer_gz = blob(&dir, layers[0]["digest"].as_str().unwrap());
    assert_eq!(layers[0]["size"].as_u64().unwrap(), layer_gz.len() as u64);
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(&layer_gz[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        sha(&tar_bytes),
        "diff_id of the layer"
    );
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut seen = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let (mode, uid) = (e.header().mode().unwrap(), e.header().uid().unwrap());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        seen.insert(path, (mode, uid, data));
    }
    let (mode, uid, data) = &seen["usr/local/bin/agent-runtime"];
    assert_eq!(
        (*mode, *uid),
        (0o755, 0),
        "root-owned, not writable by the agent's user"
    );
    assert_eq!(data, &binary);
    assert!(
        String::from_utf8_lossy(&seen["etc/passwd"].2).contains(&format!("nonroot:x:{USER_ID}:"))
    );
    assert_eq!(seen["home/nonroot/"].1, USER_ID);
    assert!(!seen["etc/ssl/certs/ca-certificates.crt"].2.is_empty());
    assert!(
        seen.keys()
            .all(|p| !p.starts_with("bin/") && !p.contains("sh")),
        "no shell: {:?}",
        seen.keys()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_binary_gives_the_same_digest() {
    let (a, b) = (tempdir("repro-a"), tempdir("repro-b"));
    let binary = elf(EM_AARCH64, PT_LOAD);
    let first = build(&spec(&binary), &a).unwrap();
    let second = build(&spec(&binary), &b).unwrap();
    assert_eq!(first.manifest_digest, second.manifest_digest);
    let mut other = binary.clone();
    other.push(0);
    let third = build(&spec(&other), &a).unwrap();
    assert_ne!(first.manifest_digest, third.manifest_digest);
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn the_command_prints_the_digest_or_says_what_to_build() {
    let dir = tempdir("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("agent-runtime");
    std::fs::write(&bin, elf(EM_AARCH64, PT_LOAD)).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
    let run = |binary: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_agent-image"))
            .args([
                "--binary",
                binary.to_str().unwrap(),
                "--ca-bundle",
                ca.to_str().unwrap(),
            ])
            .args(["--out", dir.join("image").to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = run(&bin);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let digest = String::from_utf8(ok.stdout).unwrap();
    assert!(
        digest.trim().starts_with("sha256:") && digest.trim().len() == 71,
        "{digest}"
    );
    let refused = run(Path::new(env!("CARGO_BIN_EXE_agent-image")));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("aarch64-unknown-linux-musl"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tenantry-image-{name}-{}", std::process::id()))
}

#[test]
fn without_a_bundle_given_the_image_trusts_the_roots_pinned_in_cargo_lock() {
    let dir = tempdir("pinned-roots");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("agent-runtime");
    std::fs::write(&bin, elf(EM_AARCH64, PT_LOAD)).unwrap();
    let out = dir.join("image");
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_agent-image"))
        .args(["--binary", bin.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let digest = String::from_utf8(done.stdout).unwrap();
    let manifest: Value = serde_json::from_slice(&blob(&out, digest.trim())).unwrap();
    let layer_gz = blob(&out, manifest["layers"][0]["digest"].as_str().unwrap());
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(&layer_gz[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut bundle = None;
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        if e.path().unwrap().to_string_lossy() == "etc/ssl/certs/ca-certificates.crt" {
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            bundle = Some(data);
        }
    }
    let bundle = bundle.expect("the image has a CA bundle");
    assert_eq!(bundle, agent_image::pinned_pem_bundle());
    let _ = std::fs::remove_dir_all(&dir);
}
