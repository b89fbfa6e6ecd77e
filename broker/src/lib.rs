//! The Sluice broker: the server that speaks the Kafka protocol over
//! `sluice-storage` partition logs.
#![deny(missing_docs)]
