//! The Sluice consumer: fetcher with prefetch, classic group membership,
//! assignors and offset commits.
#![deny(missing_docs)]
