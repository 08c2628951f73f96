//! Layer 5, what survives a restart: each stream's state file (`state`) and the org-wide rate
//! budget shared by the processes of one state directory (`budget_store`).

pub mod budget_store;
pub mod state;
