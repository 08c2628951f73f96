//! Layer 2, talking to Slack: the HTTP client (`http`), pooled bodies (`bodypool`), gzip
//! (`inflate`), the one JSON scanner (`jsonscan`), the rate budget and retries per API tier
//! (`governor`) and Slack's clock from its `Date` header (`wallclock`).

pub mod bodypool;
pub mod governor;
pub mod http;
pub mod inflate;
pub mod jsonscan;
pub mod wallclock;
