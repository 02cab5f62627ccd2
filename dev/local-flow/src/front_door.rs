//! The front door and the usage plans, as a client meets them: the scenarios of
//! `devstack::scenarios` (which the end-to-end tests assert), narrated.

use devstack::DevStack;
use devstack::scenarios::{self, Scenario};

use crate::tour::step;
use anyhow::anyhow;

/// Prints a scenario's lines; a line whose property did not hold stops the tour.
pub fn narrate(scenario: &Scenario) -> anyhow::Result<()> {
    step(&scenario.title);
    for shown in &scenario.shown {
        println!("    {}", shown.line);
        if !shown.holds {
            return Err(anyhow!(
                "{}: this did not hold: {}",
                scenario.title,
                shown.line
            ));
        }
    }
    Ok(())
}

pub async fn front_door(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    let suspended = devstack::setup::SUSPENDED_CLINIC;
    narrate(&scenarios::front_door(stack, http, suspended).await?)
}

pub async fn burst(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    narrate(&scenarios::burst(stack, http, "clinic-b", "clinic-c").await?)
}
