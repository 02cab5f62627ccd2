//! `devstack`: the whole system on 127.0.0.1 (see the crate docs). Normally driven by
//! `scripts/devstack.sh up|down|status|token|chat`, which installs and starts the stand-ins
//! first and runs `up` in the background.

use anyhow::Context as _;
use anyhow::anyhow;
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use devstack::state::StackInfo;
use devstack::{DevStack, Options};

/// The whole Tenantry system on this machine, on the LOCAL STAND-INS and EMULATIONS (no AWS).
#[derive(Debug, Parser)]
#[command(name = "devstack", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// The workspace root (default: the current directory).
    #[arg(long, global = true)]
    workspace: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start everything and serve until SIGTERM or Ctrl-C; writes .tools/run/devstack.json.
    /// Needs the stand-ins running (TENANTRY_MOTO_URL, TENANTRY_DYNAMODB_URL set).
    Up {
        /// The API's port on 127.0.0.1 (default: any free port).
        #[arg(long, default_value_t = 0)]
        api_port: u16,
        /// The web chat's port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 27160)]
        web_port: u16,
    },
    /// Whether the stack runs, and where each part is.
    Status,
    /// Print a fresh ID token of a clinic's demo user (for curl or `cargo lambda invoke`).
    Token {
        #[arg(long)]
        clinic: String,
    },
    /// Chat with a clinic's assistant through the API, as that clinic's demo user.
    Chat {
        #[arg(long)]
        clinic: String,
    },
    /// Copy a committed event or client context with `${ID_TOKEN}` replaced by a fresh token of
    /// the clinic's demo user; prints the copy's path (for `cargo lambda invoke --data-file`
    /// or `--client-context-file`).
    Fill {
        #[arg(long)]
        clinic: String,
        /// e.g. events/tool-target/basic-current_time.client-context.json
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let workspace = args
        .workspace
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let run_dir = workspace.join(".tools/run");
    let result = match args.command {
        Command::Up { api_port, web_port } => up(workspace, api_port, web_port).await,
        Command::Status => status(&run_dir).await,
        Command::Token { clinic } => token(&run_dir, &clinic).await.map(|t| print_line(&t)),
        Command::Chat { clinic } => chat(&run_dir, &clinic).await,
        Command::Fill { clinic, file } => fill(&run_dir, &clinic, &file)
            .await
            .map(|p| print_line(&p.display().to_string())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devstack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A line on stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_line(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

async fn up(workspace: PathBuf, api_port: u16, web_port: u16) -> anyhow::Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut options = Options::for_workspace(workspace, &format!("dev{stamp}"))?;
    options.api_port = api_port;
    options.web_port = web_port;
    let run_dir = options.run_dir.clone();
    // The emulations' access and error lines (API Gateway's access log, among them).
    telemetry::logging::init_json();
    println!("Starting the devstack on the LOCAL STAND-INS and EMULATIONS (no AWS account)");
    let stack = DevStack::start(options, &mut |line| println!("    {line}")).await?;
    let path = stack.info().write(&run_dir)?;
    println!("Ready. API: POST {}", stack.api.invoke_url());
    println!(
        "    web chat: open {} in a browser (demo users listed on the page)",
        stack.web.url()
    );
    println!("    state (URLs, demo users): {}", path.display());
    println!("    chat:  scripts/devstack.sh chat --clinic clinic-a");
    println!("    token: scripts/devstack.sh token --clinic hospital-x");
    let _ = std::io::stdout().flush();
    wait_for_stop().await;
    println!("Stopping the devstack");
    let _ = std::fs::remove_file(&path);
    drop(stack);
    Ok(())
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn endpoints(info: &StackInfo) -> anyhow::Result<testkit::Endpoints> {
    let moto = info.moto_url.clone();
    Ok(testkit::Endpoints::from_lookup(|k| {
        (k == testkit::ENV_MOTO_URL).then(|| moto.clone())
    })?)
}

async fn token(run_dir: &std::path::Path, clinic: &str) -> anyhow::Result<String> {
    let info = StackInfo::read(run_dir)?;
    let user = info.user(clinic)?;
    let pool = testkit::cognito::LocalPool::existing(
        &endpoints(&info)?,
        &info.user_pool_id,
        &info.client_id,
    );
    Ok(pool.sign_in(&user.username, &user.password).await?)
}

async fn fill(
    run_dir: &std::path::Path,
    clinic: &str,
    file: &std::path::Path,
) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    if !text.contains("${ID_TOKEN}") {
        return Err(anyhow!(
            "{} has no ${{ID_TOKEN}} to fill: invoke it as it is",
            file.display()
        ));
    }
    let token = token(run_dir, clinic).await?;
    let dir = run_dir.join("filled-events");
    let name = file
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file", file.display()))?;
    let out = dir.join(format!("{clinic}-{}", name.to_string_lossy()));
    let filled = text.replace("${ID_TOKEN}", &token);
    // One line: cargo lambda sends a client context as a header, where line breaks are invalid.
    let filled = serde_json::from_str::<serde_json::Value>(&filled)
        .map(|v| v.to_string())
        .unwrap_or(filled);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&out, filled))
        .with_context(|| format!("write {}", out.display()))?;
    Ok(out)
}

async fn status(run_dir: &std::path::Path) -> anyhow::Result<()> {
    let info = StackInfo::read(run_dir)?;
    let alive = std::path::Path::new(&format!("/proc/{}", info.pid)).exists();
    println!(
        "devstack (pid {}): {}",
        info.pid,
        if alive {
            "running"
        } else {
            "NOT running (stale state file)"
        }
    );
    let http = reqwest::Client::new();
    // No token: a live API Gateway emulation answers 401 without calling anything.
    let api = http
        .post(&info.api_url)
        .send()
        .await
        .map(|r| r.status().as_u16());
    println!(
        "    API Gateway EMULATION  {}  {}",
        info.api_url,
        match api {
            Ok(401) => "up".to_owned(),
            Ok(s) => format!("answers {s}"),
            Err(_) => "down".to_owned(),
        }
    );
    let ping = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.is_ok() }
    };
    for a in &info.agents {
        let up = ping(format!("{}/ping", a.url)).await;
        println!(
            "    agent-runtime {:<8} {}  {}  (log {})",
            a.tier,
            a.url,
            if up { "up" } else { "down" },
            a.log.display()
        );
    }
    for (name, url) in [
        ("web chat", &info.web_url),
        ("AgentCore Runtime EMULATION", &info.runtime_url),
        ("model STAND-IN", &info.model_url),
        ("Memory EMULATION", &info.memory_url),
        ("Knowledge Base EMULATION", &info.knowledge_base_url),
        ("Guardrails EMULATION", &info.guardrail_url),
        ("Lambda STAND-IN", &info.lambda_url),
    ] {
        // Any HTTP answer means the server is there.
        let up = ping(url.clone()).await;
        println!("    {name:<28} {url}  {}", if up { "up" } else { "down" });
    }
    for (tier, url) in &info.gateways {
        println!("    AgentCore Gateway EMULATION ({tier}) {url}");
    }
    if alive && api.is_ok() {
        Ok(())
    } else {
        Err(anyhow!(
            "the devstack is not (fully) running: scripts/devstack.sh up"
        ))
    }
}

async fn chat(run_dir: &std::path::Path, clinic: &str) -> anyhow::Result<()> {
    let info = StackInfo::read(run_dir)?;
    let user = info.user(clinic)?.clone();
    let http = reqwest::Client::new();
    let mut token_value = token(run_dir, clinic).await?;
    println!(
        "Signed in as {} ({}, {} tier, role {}) on the LOCAL Cognito STAND-IN.",
        user.username, user.clinic_name, user.tier, user.role
    );
    println!(
        "The model is the LOCAL MODEL STAND-IN (deterministic, not a language model). Empty line or Ctrl-D ends."
    );
    let mut session: Option<String> = None;
    let stdin = std::io::stdin();
    loop {
        print!("{clinic}> ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            println!();
            return Ok(());
        }
        let mut answer =
            ask_live(&http, &info.api_url, &token_value, line.trim(), &session).await?;
        if answer.status == 401 {
            // The ID token expired (an hour on the stand-in): sign in again once.
            token_value = token(run_dir, clinic).await?;
            answer = ask_live(&http, &info.api_url, &token_value, line.trim(), &session).await?;
        }
        if answer.status == 403 && answer.body["error"]["code"] == "session_expired" {
            // Conversations last at most 8 hours: start a new one with the same question.
            println!("  (the conversation expired; starting a new one)");
            session = None;
            answer = ask_live(&http, &info.api_url, &token_value, line.trim(), &session).await?;
        }
        print_answer(&answer);
        if answer.session.is_some() {
            session = answer.session;
        }
    }
}

/// One question, its events printed as they stream in (what the assistant does, then the
/// answer); a throttled request is retried up to 3 times, 1 s apart.
async fn ask_live(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    prompt: &str,
    session: &Option<String>,
) -> anyhow::Result<devstack::client::Answer> {
    let mut on_event = |e: &serde_json::Value| match e["type"].as_str() {
        Some("tool_start") => {
            print!("  · {} ... ", e["tool"].as_str().unwrap_or("?"));
            let _ = std::io::stdout().flush();
        }
        Some("tool_end") => println!("{}", e["status"].as_str().unwrap_or("?")),
        Some("text_delta") => {
            print!("{}", e["text"].as_str().unwrap_or_default());
            let _ = std::io::stdout().flush();
        }
        _ => {}
    };
    let question = devstack::client::Question::new(url, token, prompt, session.as_deref());
    Ok(devstack::client::ask_patiently_streaming(http, question, &mut on_event).await?)
}

fn print_answer(a: &devstack::client::Answer) {
    let b = &a.body;
    if a.status != 200 {
        let why = match (a.status, a.gateway_error.as_deref()) {
            (429, Some("LimitExceededException")) => {
                "the clinic's daily quota is used up (API Gateway usage plan)".to_owned()
            }
            (429, _) => "too many requests: slow down (API Gateway usage plan throttle)".to_owned(),
            (401, _) => "not signed in (API Gateway authorizer)".to_owned(),
            (403, Some(kind)) => format!("refused by API Gateway ({kind})"),
            _ => b["error"]["message"]
                .as_str()
                .or(b["message"].as_str())
                .unwrap_or("refused")
                .to_owned(),
        };
        println!("  [HTTP {}] {why}", a.status);
        return;
    }
    // The tool calls and the answer were printed as they streamed in.
    println!();
    println!(
        "  [{} tokens, est. {} {:.6}; memory {}, guardrail {}]",
        b["usage"]["total_tokens"],
        b["usage"]["currency"].as_str().unwrap_or(""),
        b["usage"]["estimated_cost"].as_f64().unwrap_or(0.0),
        b["memory"].as_str().unwrap_or("?"),
        b["guardrail"].as_str().unwrap_or("?"),
    );
}
