//! `aws-front`: the validating front of the moto stand-in (see `emulators::aws_model::front`).
//! Started by `scripts/standins.sh`; never deployed.

use std::process::ExitCode;

const HELP: &str = "\
aws-front: checks requests to the moto STAND-IN against AWS's service models, then forwards them

Usage: aws-front --port PORT --upstream URL --services NAME[,NAME...]

  --port PORT        listen on 127.0.0.1:PORT
  --upstream URL     the stand-in behind the front (moto), on loopback
  --services NAMES   botocore service names whose requests are checked (e.g. apigateway,ssm);
                     their models are read from .tools/aws-models (TENANTRY_AWS_MODELS)
  -h, --help         this text";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let (mut port, mut upstream, mut services) = (None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse::<u16>().ok()),
            "--upstream" => upstream = args.next(),
            "--services" => services = args.next(),
            "-h" | "--help" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("aws-front: unknown argument {other}\n\n{HELP}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(port), Some(upstream), Some(services)) = (port, upstream, services) else {
        eprintln!("aws-front: --port, --upstream and --services are required\n\n{HELP}");
        return ExitCode::from(2);
    };
    if !upstream.starts_with("http://127.0.0.1:") {
        eprintln!("aws-front: --upstream must be a loopback URL (http://127.0.0.1:PORT)");
        return ExitCode::from(2);
    }
    let services: Vec<&str> = services.split(',').collect();
    let (addr, task, _) = match emulators::aws_model::front::serve(port, &upstream, &services).await
    {
        Ok(served) => served,
        Err(e) => {
            eprintln!("aws-front: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("aws-front on http://{addr}, checking {services:?} in front of {upstream}");
    // Served until the process is stopped (scripts/standins.sh stop, by PID).
    let _task = task;
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
