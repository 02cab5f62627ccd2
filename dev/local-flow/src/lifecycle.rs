//! A clinic's life as the provider operates it (`devstack::scenarios`): clinic-c upgrades to
//! premium with its documents; clinic-b leaves, its data exported then purged and its id kept
//! from reuse.

use devstack::DevStack;
use devstack::scenarios::{Cast, clinic_leaves, tier_change};

use crate::narrate::narrate;

pub async fn lifecycle(stack: &DevStack, http: &reqwest::Client) -> anyhow::Result<()> {
    let upgrade = Cast {
        clinic: "clinic-c",
        question: "What do the appointment notes say about p-3001?",
        mate: "clinic-b",
    };
    narrate(&tier_change(stack, http, &upgrade).await?)?;
    let leaves = Cast {
        clinic: "clinic-b",
        question: "What do the visit notes say about p-2001?",
        mate: "clinic-a",
    };
    narrate(&clinic_leaves(stack, http, &leaves).await?)
}
