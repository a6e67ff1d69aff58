//! SDK configuration for talking to a local stand-in.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::config::{Credentials, SharedCredentialsProvider};

/// Access key id (and secret) of the SDK configs from `EksDouble::sdk_config` and
/// `Moto::sdk_config`; the EKS double records it per request.
pub const TEST_ACCESS_KEY_ID: &str = "testing";

/// Static `testing`/`testing` credentials, a fixed region and one endpoint for every service.
/// Built by hand rather than with `aws_config::load_defaults`, so nothing in the environment
/// (`AWS_PROFILE`, `AWS_ENDPOINT_URL_*`, `~/.aws`) can redirect a test.
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
        .build()
}
