//! Calls to the EKS double through `aws-sdk-eks` that both the integration tests and the
//! double's own unit tests make (`src/eks/tests.rs` includes this file by its path).

/// The names `ListClusters` answers with, first page only (up to 100).
pub async fn cluster_names(client: &aws_sdk_eks::Client) -> Vec<String> {
    client
        .list_clusters()
        .send()
        .await
        .expect("ListClusters")
        .clusters()
        .to_vec()
}
