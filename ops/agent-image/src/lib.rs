//! The agent's container image, assembled from its static binary without a container daemon:
//! one layer (the binary, a CA bundle, a non-root user), no base image, written as an OCI image
//! layout that `skopeo copy oci:<dir> docker://<ECR repository>` pushes unchanged.
//!
//! Byte-for-byte reproducible: entries sorted, fixed owners and times, gzip without a timestamp.
//! The same binary gives the same manifest digest, which is what the template deploys.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, Os, PlatformBuilder,
    RootFsBuilder, Sha256Digest,
};
use sha2::{Digest as _, Sha256};

mod roots;
pub use roots::pinned_pem_bundle;

/// Where the binary goes in the image, and the user it runs as (distroless's "nonroot").
pub const ENTRYPOINT: &str = "/usr/local/bin/agent-runtime";
pub const USER_ID: u64 = 65532;
const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";
/// The AgentCore Runtime contract's port.
const PORT: &str = "8080/tcp";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the binary is not an ELF executable: {0}")]
    NotElf(String),
    #[error(
        "the binary is built for {found}, the image is for {wanted}: build it for {target} (cargo lambda build --release --arm64 --target {target} -p agent-runtime)"
    )]
    WrongArchitecture {
        found: String,
        wanted: &'static str,
        target: &'static str,
    },
    #[error(
        "the binary is dynamically linked (it names an interpreter), and the image has no C library: build it for {target}"
    )]
    NotStatic { target: &'static str },
    #[error("the CA bundle is empty: the agent could not verify any TLS server")]
    NoCaBundle,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("OCI structure: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}

/// The platforms the image can be built for (AgentCore runs linux/arm64 only; amd64 exists so
/// the image can be started on a developer's x86 machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Arm64,
    Amd64,
}

impl Platform {
    fn arch(self) -> Arch {
        match self {
            Self::Arm64 => Arch::ARM64,
            Self::Amd64 => Arch::Amd64,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Arm64 => "linux/arm64",
            Self::Amd64 => "linux/amd64",
        }
    }

    /// The static (musl) Rust target for this platform.
    pub fn rust_target(self) -> &'static str {
        match self {
            Self::Arm64 => "aarch64-unknown-linux-musl",
            Self::Amd64 => "x86_64-unknown-linux-musl",
        }
    }

    fn elf_machine(self) -> u16 {
        match self {
            Self::Arm64 => object::elf::EM_AARCH64,
            Self::Amd64 => object::elf::EM_X86_64,
        }
    }
}

/// Refuses a binary that would not start in the image: another architecture, or one that
/// needs a dynamic loader (the image has none).
pub fn check_binary(bytes: &[u8], platform: Platform) -> Result<(), ImageError> {
    use object::read::elf::{FileHeader as _, ProgramHeader as _};
    let header = object::elf::FileHeader64::<object::Endianness>::parse(bytes)
        .map_err(|e| ImageError::NotElf(e.to_string()))?;
    let endian = header
        .endian()
        .map_err(|e| ImageError::NotElf(e.to_string()))?;
    let machine = header.e_machine(endian);
    if machine != platform.elf_machine() {
        return Err(ImageError::WrongArchitecture {
            found: match machine {
                object::elf::EM_AARCH64 => "arm64".into(),
                object::elf::EM_X86_64 => "x86_64".into(),
                other => format!("ELF machine {other}"),
            },
            wanted: platform.name(),
            target: platform.rust_target(),
        });
    }
    let segments = header
        .program_headers(endian, bytes)
        .map_err(|e| ImageError::NotElf(e.to_string()))?;
    if segments
        .iter()
        .any(|p| p.p_type(endian) == object::elf::PT_INTERP)
    {
        return Err(ImageError::NotStatic {
            target: platform.rust_target(),
        });
    }
    Ok(())
}

/// What goes into the image.
pub struct ImageSpec<'a> {
    pub binary: &'a [u8],
    pub ca_bundle: &'a [u8],
    pub platform: Platform,
    /// RFC 3339; a fixed value (the commit time) keeps the image reproducible.
    pub created: String,
    /// `org.opencontainers.image.*` labels (source, revision, version).
    pub labels: BTreeMap<String, String>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub dir: PathBuf,
    /// `sha256:<hex>`: what the template deploys (`<repository>@<digest>`).
    pub manifest_digest: String,
    pub layer_bytes: u64,
}

fn sha256(bytes: &[u8]) -> Result<Sha256Digest, ImageError> {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(hex.parse()?)
}

fn header(path: &str, size: u64, mode: u32, uid: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_mtime(0);
    // ustar names are at most 100 bytes; every path here is shorter.
    let _ = h.set_path(path);
    h.set_cksum();
    h
}

/// The layer's files, in the order they are written (parents first, sorted).
fn layer_tar(spec: &ImageSpec<'_>) -> Result<Vec<u8>, ImageError> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER_ID}:{USER_ID}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{USER_ID}:\n");
    let binary_path = ENTRYPOINT.trim_start_matches('/');
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, uid: u64| {
        b.append(
            &header(path, 0, mode, uid, tar::EntryType::Directory),
            &[][..],
        )
        .map_err(io(format!("layer: {path}")))
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        b.append(
            &header(path, data.len() as u64, mode, 0, tar::EntryType::Regular),
            data,
        )
        .map_err(io(format!("layer: {path}")))
    };
    dir(&mut b, "etc/", 0o755, 0)?;
    file(&mut b, "etc/group", 0o644, group.as_bytes())?;
    file(&mut b, "etc/passwd", 0o644, passwd.as_bytes())?;
    dir(&mut b, "etc/ssl/", 0o755, 0)?;
    dir(&mut b, "etc/ssl/certs/", 0o755, 0)?;
    file(&mut b, CA_BUNDLE_PATH, 0o644, spec.ca_bundle)?;
    dir(&mut b, "home/", 0o755, 0)?;
    dir(&mut b, "home/nonroot/", 0o700, USER_ID)?;
    dir(&mut b, "tmp/", 0o1777, 0)?;
    dir(&mut b, "usr/", 0o755, 0)?;
    dir(&mut b, "usr/local/", 0o755, 0)?;
    dir(&mut b, "usr/local/bin/", 0o755, 0)?;
    // Owned by root: the user the agent runs as cannot change its own binary.
    file(&mut b, binary_path, 0o755, spec.binary)?;
    b.into_inner().map_err(io("layer"))
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    // GzEncoder writes mtime 0 and no file name: the same input gives the same bytes.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).map_err(io("gzip"))?;
    gz.finish().map_err(io("gzip"))
}

fn write_blob(dir: &Path, bytes: &[u8]) -> Result<Sha256Digest, ImageError> {
    let digest = sha256(bytes)?;
    let path = dir.join("blobs/sha256").join(digest.digest());
    std::fs::write(&path, bytes).map_err(io(format!("write {}", path.display())))?;
    Ok(digest)
}

fn descriptor(media_type: MediaType, size: usize, digest: Sha256Digest) -> Descriptor {
    Descriptor::new(media_type, size as u64, digest)
}

/// Writes the image as an OCI layout in `dir` (created; an existing layout is replaced).
pub fn build(spec: &ImageSpec<'_>, dir: &Path) -> Result<BuiltImage, ImageError> {
    check_binary(spec.binary, spec.platform)?;
    if spec.ca_bundle.is_empty() {
        return Err(ImageError::NoCaBundle);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(format!("clear {}", dir.display())))?;
    }
    std::fs::create_dir_all(dir.join("blobs/sha256"))
        .map_err(io(format!("create {}", dir.display())))?;

    let tar = layer_tar(spec)?;
    let diff_id = sha256(&tar)?;
    let layer = gzip(&tar)?;
    let layer_digest = write_blob(dir, &layer)?;

    let mut settings = ConfigBuilder::default()
        .user(format!("{USER_ID}:{USER_ID}"))
        .entrypoint(vec![ENTRYPOINT.to_owned()])
        .exposed_ports(vec![PORT.to_owned()])
        .env(vec![
            "PATH=/usr/local/bin".to_owned(),
            format!("SSL_CERT_FILE=/{CA_BUNDLE_PATH}"),
        ])
        .working_dir("/home/nonroot".to_owned())
        .stop_signal("SIGTERM".to_owned());
    if !spec.labels.is_empty() {
        settings = settings.labels(
            spec.labels
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    let config = ImageConfigurationBuilder::default()
        .created(spec.created.clone())
        .architecture(spec.platform.arch())
        .os(Os::Linux)
        .config(settings.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![format!("sha256:{}", diff_id.digest())])
                .build()?,
        )
        .build()?;
    // serde_json writes a HashMap's keys in hash order: sort them for a stable digest.
    let config_bytes = serde_json::to_vec(&canonical(serde_json::to_value(&config)?))?;
    let config_digest = write_blob(dir, &config_bytes)?;

    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            config_bytes.len(),
            config_digest,
        ))
        .layers(vec![descriptor(
            MediaType::ImageLayerGzip,
            layer.len(),
            layer_digest,
        )])
        .build()?;
    let manifest_bytes = serde_json::to_vec(&canonical(serde_json::to_value(&manifest)?))?;
    let manifest_digest = write_blob(dir, &manifest_bytes)?;

    let mut entry = DescriptorBuilder::default()
        .media_type(MediaType::ImageManifest)
        .size(manifest_bytes.len() as u64)
        .digest(manifest_digest.clone())
        .platform(
            PlatformBuilder::default()
                .architecture(spec.platform.arch())
                .os(Os::Linux)
                .build()?,
        )
        .build()?;
    let mut annotations = std::collections::HashMap::new();
    annotations.insert(
        "org.opencontainers.image.ref.name".to_owned(),
        "latest".to_owned(),
    );
    entry.set_annotations(Some(annotations));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![entry])
        .build()?;
    let index_bytes = serde_json::to_vec(&canonical(serde_json::to_value(&index)?))?;
    std::fs::write(dir.join("index.json"), index_bytes).map_err(io("write index.json"))?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    std::fs::write(dir.join("oci-layout"), serde_json::to_vec(&layout)?)
        .map_err(io("write oci-layout"))?;
    Ok(BuiltImage {
        dir: dir.to_owned(),
        manifest_digest: format!("sha256:{}", manifest_digest.digest()),
        layer_bytes: layer.len() as u64,
    })
}

/// Objects with their keys sorted, whether or not serde_json keeps insertion order (its
/// `preserve_order` feature, which any crate in a build can switch on).
fn canonical(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(canonical).collect())
        }
        other => other,
    }
}
