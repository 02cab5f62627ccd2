//! The front door and the usage plans, as a client meets them: the scenarios of
//! `devstack::scenarios` (which the end-to-end tests assert), narrated.

use devstack::DevStack;
use devstack::scenarios;

use crate::narrate::narrate;

pub async fn front_door(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    let suspended = devstack::setup::SUSPENDED_CLINIC;
    narrate(&scenarios::front_door(stack, http, suspended).await?)
}

pub async fn burst(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    narrate(&scenarios::burst(stack, http, "clinic-b", "clinic-c").await?)
}
