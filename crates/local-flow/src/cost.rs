//! Cost per clinic and per tier from the agents' `inference_usage` lines (the local equivalent
//! of the Logs Insights query in docs/observability.md).

use devstack::DevStack;
use devstack::usage::CostTable;

use crate::error::{FlowError, unexpected};
use crate::tour::step;

pub fn table(stack: &DevStack) -> Result<(), FlowError> {
    step(
        "Cost: requests, tokens and estimated cost per clinic and tier, from the agents' inference_usage log lines",
    );
    let logs: Vec<&std::path::Path> = stack
        .assistant
        .agents
        .iter()
        .map(|(_, _, log)| log.as_path())
        .collect();
    let table = CostTable::from_logs(logs);
    for line in table.render() {
        println!("    {line}");
    }
    let clinics: Vec<&str> = table.by_clinic.keys().map(|(_, c)| c.as_str()).collect();
    for want in ["clinic-a", "hospital-x"] {
        if !clinics.contains(&want) {
            return Err(unexpected(format!("no usage recorded for {want}")));
        }
    }
    if clinics.contains(&devstack::setup::SUSPENDED_CLINIC) {
        return Err(unexpected("the suspended clinic reached an agent"));
    }
    println!(
        "    (estimates from the tier file's prices; {} never reached an agent: refused at the front door)",
        devstack::setup::SUSPENDED_CLINIC
    );
    Ok(())
}
