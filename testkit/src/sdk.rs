//! SDK configuration for talking to a local stand-in.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SharedTimeSource;

/// Access key id (and secret) of the SDK configs from `EksDouble::sdk_config` and
/// `Moto::sdk_config`; the EKS double records it per request.
pub const TEST_ACCESS_KEY_ID: &str = "testing";

/// Static `testing`/`testing` credentials, a fixed region and one endpoint for every service.
/// Built by hand rather than with `aws_config::load_defaults`, so nothing in the environment
/// (`AWS_PROFILE`, `AWS_ENDPOINT_URL_*`, `~/.aws`) can redirect a test. It has the system clock
/// and tokio's sleep that `load_defaults` would set: clients built from it default to those
/// anyway, but `aws_config::sts::AssumeRoleProvider` panics without a clock ("A time source
/// must be provided"), and the guard assumes roles with one configured from its SdkConfig.
pub(crate) fn local_sdk_config(endpoint_url: &str, region: &str) -> SdkConfig {
    let credentials = Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_ACCESS_KEY_ID,
        None,
        None,
        "guard-testkit",
    );
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint_url)
        .time_source(SharedTimeSource::default())
        .sleep_impl(default_async_sleep().expect("aws-smithy-async is built with rt-tokio"))
        .build()
}
