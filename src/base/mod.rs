//! Layer 0, the leaves every other module may use: which sources there are and their names
//! (`source_id`, with the table of sources), and the FNV hash of row keys (`fnv`).

pub mod fnv;
pub mod source_id;
