//! How the tour speaks: a step's title, then its lines.

use anyhow::anyhow;
use devstack::scenarios::Scenario;

/// A step's title.
pub fn step(title: &str) {
    println!("\n==> {title}");
}

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
