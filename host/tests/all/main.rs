//! Integration tests of the edgeplug host crate and CLI.

mod bad_plugins;
mod cache;
mod cli;
mod conformance;
mod crash;
mod inputs;
mod limits;
mod pipelines;
mod plugins;
mod scaffold;
mod serve;
mod shared;
mod store;
mod trust;
mod trust_lib;
