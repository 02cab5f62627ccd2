//! Tier differences decided below the model: the tiers scenario of `devstack::scenarios`
//! (which the end-to-end tests assert), narrated.

use devstack::DevStack;
use devstack::scenarios;

use crate::narrate::narrate;

pub use devstack::scenarios::EVENING;

pub async fn tiers(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    narrate(&scenarios::tiers(stack, http).await?)
}
