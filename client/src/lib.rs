//! What Sluice's producer and consumer share: connections, bootstrap, the
//! metadata cache, request routing, retries, and the admin API.
#![deny(missing_docs)]
