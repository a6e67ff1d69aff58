//! Local stand-ins for the guard's tests, demo and benchmarks.
//!
//! - [`runtime`]: a Lambda Runtime API emulator, so the real `bootstrap` binary can be invoked
//!   the way Lambda invokes it (long-polled `/invocation/next`, deadlines, error reports).
//! - [`delayed`]: a front that forwards to `moto_server` (STS, Organizations) after a delay
//!   and counts requests by action, and `AssumeRole` by role.
//! - [`eks`]: an EKS double that speaks the REST-JSON wire protocol of `aws-sdk-eks` and follows
//!   what real EKS does (updates that stay `InProgress`, `ResourceInUseException`, no-op refusals),
//!   which moto does not.
//! - [`function`]: runs a function binary as Lambda would, under [`runtime`], collecting its logs;
//!   one process, or several execution environments side by side ([`function::Fleet`]).
//! - [`lambda`]: a stand-in for the Lambda `Invoke` API that queues asynchronous (`Event`)
//!   invokes into a [`runtime`] emulator, so a function can hand work on to itself.
//! - [`moto`]: starts `moto_server` for SNS, SQS, STS and Organizations, reads SNS
//!   notifications back through an SQS queue, and tells which account an access key is in.
//! - [`organizations`]: an organization in moto with active and closed member accounts, for
//!   the guard's organization-wide sweep.
//! - [`webhook`]: a local HTTP endpoint that takes what SNS POSTs to an `https` subscription.
//!
//! Everything binds to `127.0.0.1` on a free port and stops when its handle is dropped, so tests
//! can run in parallel without touching the process environment.

pub mod delayed;
pub mod eks;
pub mod function;
pub mod lambda;
pub mod moto;
pub mod organizations;
pub mod runtime;
pub mod webhook;

mod ids;
mod sdk;
mod server;
#[cfg(test)]
mod test_client;

pub use sdk::TEST_ACCESS_KEY_ID;
