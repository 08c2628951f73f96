//! placeholder, filled by the encode work
