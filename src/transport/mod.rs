//! Layer 2, talking to Slack: the HTTP client (`http`), pooled bodies (`bodypool`), gzip
//! (`inflate`), the one JSON scanner (`jsonscan`), the rate budget and retries per API tier
//! (`governor`), Slack's clock from its `Date` header (`wallclock`), and what is trusted and
//! which proxy is used, with each failure's step (`net`).

pub mod bodypool;
pub mod governor;
pub mod http;
pub mod inflate;
pub mod jsonscan;
pub mod net;
pub mod wallclock;
