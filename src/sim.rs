//! placeholder, filled by the simulator work
