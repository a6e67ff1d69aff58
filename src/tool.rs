//! Which tool made a change, and what happens next because of it (pure).
//!
//! CloudTrail names the caller (`userIdentity`) and the agent (`userAgent`,
//! `invokedBy`, `sourceIPAddress`). The agent tells the tool, and the tool
//! tells what a revert means: a change made in the console stays reverted; a
//! change made from code comes back with the next apply unless the code
//! changes. [`identify`] names the tool; [`advise`] turns it, the outcome and
//! the fix into the settings to change and the next steps.
//!
//! # Patterns, in the order they are tried (the first match wins)
//!
//! | # | tool | pattern | where it was seen |
//! |---|---|---|---|
//! | 1 | CloudFormation | `invokedBy`, `userAgent` or `sourceIPAddress` is `cloudformation.amazonaws.com` | the shape of the calls CloudFormation makes for a stack, as the issue behind this module gives it (CloudTrail documents `invokedBy` as the service that made the call); the sample's identity, the stack's service role with session `AWSCloudFormation`, is a guess |
//! | 2 | AWS CDK (`aws-eks` `Cluster`) | session name starts `AWSCDK.EKSCluster.` | aws/aws-cdk `packages/@aws-cdk/custom-resource-handlers/lib/aws-eks/cluster-resource-handler/common.ts` (`RoleSessionName: AWSCDK.EKSCluster.${requestType}.${requestId}`); the role ARN shape in a public README (`…-L2ClusterCreationRoleFCDE87E9-…/AWSCDK.EKSCluster.Create.…`). The cluster custom resource calls EKS from a Lambda with the JS SDK, not through CloudFormation |
//! | 3 | ACK (AWS Controllers for Kubernetes) | `aws-controllers-k8s/` (runtime on aws-sdk-go-v2) or `aws-controller-k8s/` (older runtime), e.g. `aws-controllers-k8s/eks.services.k8s.aws-v1.6.0 (GitCommit/…; BuildDate/…; CRDKind/Cluster; CRDVersion/v1alpha1)` | aws-controllers-k8s/runtime `pkg/runtime/config.go` and `config_test.go` (`formatUserAgent`), older `pkg/runtime/session.go` |
//! | 4 | Crossplane | `crossplane` anywhere: `crossplane-provider-aws-upbound/` after the Terraform agent (Upbound/upjet), `crossplane-provider-jet-aws/` (Terrajet), `crossplane-provider-aws/` after `aws-sdk-go-v2` (community provider) | crossplane-contrib/provider-upjet-aws#160, crossplane-contrib/provider-jet-aws#180, crossplane-contrib/provider-aws#1243 (CloudTrail records quoted there). Before the Terraform rule: upjet providers embed the Terraform provider and its agent |
//! | 5 | Pulumi | `Pulumi/` or `Pulumi-Aws/`: `APN/1.0 Pulumi/1.0 Pulumi/1.0 Pulumi-Aws/6.x (+https://www.pulumi.com)` | pulumi/pulumi-aws#1604 (the record before and after), the patched `StdUserAgentProducts` (`PartnerName: "Pulumi"`) in pulumi's terraform-provider-aws. Before the Terraform rule: pulumi-aws bridges the Terraform provider, and releases before 4.17 (2021) said `HashiCorp/1.0 Terraform/…` and cannot be told apart |
//! | 6 | eksctl | `eksctl/`: aws-sdk-go-v2's agent, then `eksctl/` and the version JSON with every character outside the agent alphabet turned into `-` (`eksctl/--Version---0.214.0---PreReleaseID-----…`) | eksctl-io/eksctl `pkg/eks/apiv2.go` (`AddUserAgentKeyValue("eksctl", version.String())`), `pkg/version/version.go` (`String` is JSON), aws/aws-sdk-go-v2 `aws/middleware/user_agent.go` (`rules` maps other characters to `-`). The token order in the sample is a guess |
//! | 7 | OpenTofu | `OpenTofu/` or `opentofu` | opentofu/opentofu#2955 (`APN/1.0 OpenTofu-S3-Backend/1.0 OpenTofu/1.10.1`, the S3 backend only). The `hashicorp/aws` provider under OpenTofu reports `Terraform/<OpenTofu's version>` (opentofu/opentofu#4542: "no way for us to tell usage of these apart"): OpenTofu's EKS calls only say so when the pipeline appends it (`TF_APPEND_USER_AGENT=OpenTofu/1.10.6`, honoured by hashicorp/aws-sdk-go-base). Before the Terraform rule |
//! | 8 | Terraform | `Terraform/`, `terraform-provider-aws/` or `HashiCorp/`: `APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/…` | hashicorp/terraform-provider-aws `internal/conns/config.go` (`StdUserAgentProducts`), hashicorp/aws-sdk-go-base `APNInfo.BuildUserAgentString`, records in crossplane-contrib/provider-jet-aws#180 and hashicorp/terraform-provider-awscc#247 |
//! | 9 | AWS CLI | `aws-cli/`: `aws-cli/2.22.0 md/awscrt#0.22.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.6 command/eks.update-cluster-config` | the project's samples; a 2026 record in wazuh/wazuh#36209 (`aws-cli/2.32.10 … md/command#ec2.associate-address`). Before the SDK rule: the CLI runs on botocore |
//! | 10 | AWS console | starts `Mozilla/` (a browser); `AWS Console`; `console.amazonaws.com` | the browser agent: the real console `CreateCluster` in `events/createcluster-console-public.json`; `AWS Console, aws-sdk-java/…`: Neptune's CloudTrail guide; `console.amazonaws.com`: CloudTrail's record-contents guide. The last two are not seen for EKS (guesses) |
//! | 11 | an AWS SDK | `aws-sdk-<lang>/`, `Boto3/`/`Botocore/`, else `lang/<lang>` | the SDKs' agent formats (aws-sdk-go-v2 `user_agent.go`, the agents quoted in the issues above); the language names are the SDKs' own |
//!
//! Anything else (an empty agent, `PostmanRuntime/6.4.0`) is [`Tool::Unknown`]:
//! the alert still shows the raw agent.

use serde::{Deserialize, Serialize};

use crate::event::Actor;
use crate::outcome::Outcome;
use crate::policy::{Action, EndpointFix};

/// The tag CloudFormation puts on every resource of a stack.
pub const CLOUDFORMATION_STACK_TAG: &str = "aws:cloudformation:stack-name";
const CLOUDFORMATION: &str = "cloudformation.amazonaws.com";
/// The session name prefix of the AWS CDK's EKS cluster handler.
const CDK_SESSION_PREFIX: &str = "AWSCDK.EKSCluster.";

/// The tool behind a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Console,
    AwsCli,
    Terraform,
    OpenTofu,
    CloudFormation,
    /// The AWS CDK's `aws-eks` `Cluster` (a custom resource whose handler
    /// calls EKS; the CDK's native `CfnCluster` shows as CloudFormation).
    Cdk,
    Eksctl,
    Pulumi,
    Crossplane(CrossplaneProvider),
    Ack,
    /// A program on an AWS SDK, in this language when the agent says.
    Sdk(Option<&'static str>),
    Unknown,
}

/// Crossplane's two AWS providers name the endpoint settings differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossplaneProvider {
    /// Upbound's upjet provider (`eks.aws.upbound.io`), Terraform inside.
    Upjet,
    /// crossplane-contrib/provider-aws (`eks.aws.crossplane.io`).
    Community,
}

impl Tool {
    /// A stable id for machines (`actor.tool.id`, the `tool` attribute).
    pub fn id(self) -> &'static str {
        match self {
            Tool::Console => "console",
            Tool::AwsCli => "aws-cli",
            Tool::Terraform => "terraform",
            Tool::OpenTofu => "opentofu",
            Tool::CloudFormation => "cloudformation",
            Tool::Cdk => "cdk",
            Tool::Eksctl => "eksctl",
            Tool::Pulumi => "pulumi",
            Tool::Crossplane(_) => "crossplane",
            Tool::Ack => "ack",
            Tool::Sdk(_) => "sdk",
            Tool::Unknown => "unknown",
        }
    }

    /// The name people read.
    pub fn name(self) -> String {
        match self {
            Tool::Console => "AWS console".into(),
            Tool::AwsCli => "AWS CLI".into(),
            // The provider says Terraform under OpenTofu too (opentofu/opentofu#4542).
            Tool::Terraform => "Terraform".into(),
            Tool::OpenTofu => "OpenTofu".into(),
            Tool::CloudFormation => "CloudFormation".into(),
            Tool::Cdk => "AWS CDK (aws-eks Cluster, through CloudFormation)".into(),
            Tool::Eksctl => "eksctl".into(),
            Tool::Pulumi => "Pulumi".into(),
            Tool::Crossplane(CrossplaneProvider::Upjet) => {
                "Crossplane (Upbound provider-aws)".into()
            }
            Tool::Crossplane(CrossplaneProvider::Community) => {
                "Crossplane (community provider-aws)".into()
            }
            Tool::Ack => "ACK (AWS Controllers for Kubernetes)".into(),
            Tool::Sdk(Some(language)) => format!("AWS SDK for {language}"),
            Tool::Sdk(None) => "an AWS SDK".into(),
            Tool::Unknown => "unknown".into(),
        }
    }

    /// Tools that hold the cluster's settings as code and apply them again.
    pub fn is_infrastructure_as_code(self) -> bool {
        matches!(
            self,
            Tool::Terraform
                | Tool::OpenTofu
                | Tool::CloudFormation
                | Tool::Cdk
                | Tool::Eksctl
                | Tool::Pulumi
                | Tool::Crossplane(_)
                | Tool::Ack
        )
    }
}

/// A tool and what in the record gave it away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identified {
    pub tool: Tool,
    /// For people: the field and the pattern that matched.
    pub evidence: String,
}

/// The tool as the finding carries it (`actor.tool`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolRef {
    /// `console`, `aws-cli`, `terraform`, `opentofu`, `cloudformation`,
    /// `cdk`, `eksctl`, `pulumi`, `crossplane`, `ack`, `sdk` or `unknown`.
    pub id: String,
    pub name: String,
    /// For `sdk`: the language, when the agent says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// What in the record named the tool.
    pub evidence: String,
    /// The tool keeps the settings as code and applies them again.
    pub infrastructure_as_code: bool,
}

impl From<&Identified> for ToolRef {
    fn from(identified: &Identified) -> ToolRef {
        ToolRef {
            id: identified.tool.id().to_string(),
            name: identified.tool.name(),
            language: match identified.tool {
                Tool::Sdk(language) => language.map(str::to_string),
                _ => None,
            },
            evidence: identified.evidence.clone(),
            infrastructure_as_code: identified.tool.is_infrastructure_as_code(),
        }
    }
}

/// SDK agent tokens (lowercase) and their languages, most specific first.
const SDK_LANGUAGES: &[(&str, &str)] = &[
    ("aws-sdk-go-v2/", "Go"),
    ("aws-sdk-go/", "Go"),
    ("boto3/", "Python"),
    ("botocore/", "Python"),
    ("aws-sdk-kotlin/", "Kotlin"),
    ("aws-sdk-java/", "Java"),
    ("aws-sdk-js/", "JavaScript"),
    ("aws-sdk-nodejs/", "JavaScript"),
    ("aws-sdk-dotnet", ".NET"),
    ("aws-sdk-net/", ".NET"),
    ("aws-sdk-ruby", "Ruby"),
    ("aws-sdk-php/", "PHP"),
    ("aws-sdk-rust/", "Rust"),
    ("aws-sdk-cpp/", "C++"),
    ("aws-sdk-swift/", "Swift"),
];

/// `lang/<name>` values (the SDKs' common agent format) and their languages.
const LANG_METADATA: &[(&str, &str)] = &[
    ("go", "Go"),
    ("python", "Python"),
    ("java", "Java"),
    ("kotlin", "Kotlin"),
    ("js", "JavaScript"),
    ("javascript", "JavaScript"),
    (".net", ".NET"),
    ("ruby", "Ruby"),
    ("php", "PHP"),
    ("rust", "Rust"),
    ("c++", "C++"),
    ("swift", "Swift"),
];

/// Names the tool behind a call from the record's agent and identity. The
/// order of the checks matters (see the module's table): tools built on
/// other tools say both.
pub fn identify(actor: &Actor) -> Identified {
    if let Some(found) = by_caller(actor) {
        return found;
    }
    let agent = actor.user_agent.as_deref().unwrap_or("").trim();
    if agent.is_empty() {
        return Identified {
            tool: Tool::Unknown,
            evidence: "the record has no user agent".to_string(),
        };
    }
    let agent = UserAgent {
        text: agent,
        lower: agent.to_ascii_lowercase(),
    };
    by_infrastructure_agent(&agent)
        .or_else(|| by_other_agent(&agent))
        .unwrap_or_else(|| Identified {
            tool: Tool::Unknown,
            evidence: format!(
                "user agent {} matches no known tool",
                agent.text.chars().take(80).collect::<String>()
            ),
        })
}

fn found(tool: Tool, evidence: String) -> Option<Identified> {
    Some(Identified { tool, evidence })
}

fn says(token: &str) -> String {
    format!("user agent has {token}")
}

/// A user agent as the record has it, and lowercased for matching.
struct UserAgent<'a> {
    text: &'a str,
    lower: String,
}

impl UserAgent<'_> {
    fn has(&self, token: &str) -> bool {
        self.lower.contains(token)
    }

    /// The first of `tokens` the agent has.
    fn first<'t>(&self, tokens: &[&'t str]) -> Option<&'t str> {
        tokens.iter().copied().find(|t| self.has(t))
    }

    /// "user agent has `token`", the token as the agent spells it.
    fn says(&self, token: &str) -> String {
        says(original_case(self.text, token))
    }
}

/// CloudFormation (and so the CDK) by who invoked the call or its session.
fn by_caller(actor: &Actor) -> Option<Identified> {
    let is_cloudformation = |v: &Option<String>| v.as_deref() == Some(CLOUDFORMATION);
    if is_cloudformation(&actor.invoked_by) {
        return found(Tool::CloudFormation, format!("invokedBy {CLOUDFORMATION}"));
    }
    if is_cloudformation(&actor.user_agent) {
        return found(Tool::CloudFormation, format!("user agent {CLOUDFORMATION}"));
    }
    if is_cloudformation(&actor.source_ip) {
        return found(
            Tool::CloudFormation,
            format!("sourceIPAddress {CLOUDFORMATION}"),
        );
    }
    let session = actor
        .session_name
        .as_deref()
        .filter(|s| s.starts_with(CDK_SESSION_PREFIX))?;
    found(Tool::Cdk, format!("session name {session}"))
}

/// The infrastructure-as-code tools, in the order their tokens can overlap
/// (ACK, Crossplane, Pulumi, eksctl, OpenTofu, then Terraform).
fn by_infrastructure_agent(agent: &UserAgent) -> Option<Identified> {
    if agent.has("aws-controllers-k8s/") {
        return found(Tool::Ack, says("aws-controllers-k8s/"));
    }
    if agent.has("aws-controller-k8s/") {
        return found(Tool::Ack, says("aws-controller-k8s/"));
    }
    if agent.has("crossplane") || agent.has("upbound-provider-") {
        return Some(crossplane(agent));
    }
    if let Some(token) = agent.first(&["pulumi-aws/", "pulumi/", "pulumiawsnative/"]) {
        return found(Tool::Pulumi, agent.says(token));
    }
    if agent.has("eksctl/") {
        return found(Tool::Eksctl, says("eksctl/"));
    }
    if let Some(token) = agent.first(&["opentofu/", "opentofu"]) {
        return found(Tool::OpenTofu, agent.says(token));
    }
    let token = agent.first(&["terraform/", "terraform-provider-aws/", "hashicorp/"])?;
    found(
        Tool::Terraform,
        format!(
            "{} (OpenTofu's AWS provider says the same)",
            agent.says(token)
        ),
    )
}

/// Which Crossplane provider: the community provider calls the Go SDK
/// itself; Upbound's (and the older Terrajet one) run the Terraform provider
/// inside.
fn crossplane(agent: &UserAgent) -> Identified {
    let community = agent.has("crossplane-provider-aws/")
        && !agent.has("terraform")
        && !agent.has("upbound")
        && !agent.has("jet-aws");
    let provider = if community {
        CrossplaneProvider::Community
    } else {
        CrossplaneProvider::Upjet
    };
    let token = agent
        .first(&[
            "crossplane-provider-aws-upbound/",
            "crossplane-provider-jet-aws/",
        ])
        .unwrap_or(if community {
            "crossplane-provider-aws/"
        } else {
            "crossplane"
        });
    Identified {
        tool: Tool::Crossplane(provider),
        evidence: says(token),
    }
}

/// The AWS CLI, the console, and the SDKs by language.
fn by_other_agent(agent: &UserAgent) -> Option<Identified> {
    if agent.has("aws-cli/") {
        return found(Tool::AwsCli, says("aws-cli/"));
    }
    if agent.lower.starts_with("mozilla/") {
        return found(
            Tool::Console,
            "user agent is a browser's (Mozilla/…)".into(),
        );
    }
    if let Some(token) = agent.first(&["aws console", "console.amazonaws.com"]) {
        return found(Tool::Console, agent.says(token));
    }
    if let Some((token, language)) = SDK_LANGUAGES.iter().find(|(t, _)| agent.has(t)) {
        return found(Tool::Sdk(Some(language)), agent.says(token));
    }
    if let Some(language) = lang_metadata(&agent.lower) {
        return found(
            Tool::Sdk(Some(language)),
            says(&format!("lang/{}", language.to_ascii_lowercase())),
        );
    }
    if agent.has("aws-sdk-") {
        return found(Tool::Sdk(None), says("aws-sdk-"));
    }
    None
}

/// The language in a `lang/<name>#<version>` or `lang/<name>/<version>` token.
fn lang_metadata(lower: &str) -> Option<&'static str> {
    let (_, rest) = lower.split_once("lang/")?;
    let name = rest.split(['#', '/', ' ']).next()?;
    LANG_METADATA
        .iter()
        .find(|(token, _)| *token == name)
        .map(|(_, language)| *language)
}

/// `token` as the agent spells it (tokens are matched case-insensitively).
fn original_case<'a>(agent: &'a str, token: &str) -> &'a str {
    let lower = agent.to_ascii_lowercase();
    match lower.find(token) {
        // ASCII lowercasing keeps byte offsets.
        Some(at) => &agent[at..at + token.len()],
        None => "",
    }
}

/// The CloudFormation stack that manages a cluster, from its tags.
pub fn cloudformation_stack(tags: &std::collections::HashMap<String, String>) -> Option<&str> {
    tags.get(CLOUDFORMATION_STACK_TAG)
        .map(String::as_str)
        .filter(|name| !name.is_empty())
}

/// eksctl names a cluster's stack `eksctl-<cluster>-cluster`
/// (eksctl-io/eksctl `pkg/cfn/manager/cluster.go`).
fn is_eksctl_stack(stack: &str) -> bool {
    stack.starts_with("eksctl-") && stack.ends_with("-cluster")
}

/// What a fix changes, to name it in the tool's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// Public endpoint off, private endpoint on.
    Close,
    /// Public endpoint only from these ranges.
    Restrict(Vec<String>),
    /// Not known (the guard did not judge the cluster): either.
    Either,
}

impl Remedy {
    /// The remedy of a decided action.
    pub fn of(action: &Action) -> Remedy {
        match action {
            Action::Revert(fix) | Action::WouldRevert(fix) | Action::Exempt(fix) => match fix {
                EndpointFix::ClosePublicEndpoint => Remedy::Close,
                EndpointFix::RestrictPublicCidrs(kept) => Remedy::Restrict(kept.clone()),
            },
            Action::AlreadyCompliant | Action::Nothing => Remedy::Either,
        }
    }
}

/// Where the cluster's endpoint settings live in code, and what to set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IacAdvice {
    /// The tool's id (`terraform`, `cloudformation`, `eksctl`, ...).
    pub tool: String,
    /// `actor`: the tool made the change; `stack-tag`: the cluster carries
    /// `aws:cloudformation:stack-name`.
    pub source: String,
    /// The resource in the tool's terms (`aws_eks_cluster`, `AWS::EKS::Cluster`, ...).
    pub resource: String,
    /// The settings to change, with values that comply.
    pub settings: Vec<String>,
    /// The stack that manages the cluster, when its tag says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// What happens next unless the code changes.
    pub next: String,
}

/// One tool's words for the endpoint settings.
struct Vocabulary {
    tool: Tool,
    resource: &'static str,
    public: &'static str,
    private: &'static str,
    cidrs: &'static str,
    /// Between a setting and its value.
    assign: &'static str,
    /// What holds the settings: code, a template, a config, a manifest.
    code: &'static str,
    /// What undoes a change made by hand.
    next_run: &'static str,
    /// What happens after a revert unless the code changes.
    reopens: &'static str,
    /// Where else the same settings are spelt (modules, wrappers).
    also: Option<&'static str>,
}

fn vocabulary(tool: Tool) -> Option<Vocabulary> {
    let terraform = |next_run, reopens| Vocabulary {
        tool,
        resource: "aws_eks_cluster",
        public: "vpc_config.endpoint_public_access",
        private: "vpc_config.endpoint_private_access",
        cidrs: "vpc_config.public_access_cidrs",
        assign: " = ",
        code: "code",
        next_run,
        reopens,
        also: Some(
            "terraform-aws-modules/eks: endpoint_public_access, endpoint_public_access_cidrs, cluster_-prefixed before v21",
        ),
    };
    let crossplane = |resource, public, private, cidrs| Vocabulary {
        tool,
        resource,
        public,
        private,
        cidrs,
        assign: ": ",
        code: "manifest",
        next_run: "the provider's next reconcile",
        reopens: "the provider's next reconcile, within minutes, opens the endpoint again",
        also: Some("or the Composition that renders it"),
    };
    Some(match tool {
        Tool::Terraform => terraform(
            "the next `terraform apply` or `tofu apply`",
            "the next `terraform apply` or `tofu apply` sees the revert as drift and opens the endpoint again",
        ),
        Tool::OpenTofu => terraform(
            "the next `tofu apply`",
            "the next `tofu apply` sees the revert as drift and opens the endpoint again",
        ),
        Tool::CloudFormation => Vocabulary {
            tool,
            resource: "AWS::EKS::Cluster",
            public: "ResourcesVpcConfig.EndpointPublicAccess",
            private: "ResourcesVpcConfig.EndpointPrivateAccess",
            cidrs: "ResourcesVpcConfig.PublicAccessCidrs",
            assign: ": ",
            code: "template",
            next_run: "the next stack update that touches the cluster",
            reopens: "the template still asks for a public endpoint, so the next stack update that touches the cluster's ResourcesVpcConfig, or a new stack from the template, opens it again",
            also: Some("a CDK app: endpointAccess on the cluster construct"),
        },
        Tool::Cdk => Vocabulary {
            tool,
            resource: "aws-eks Cluster",
            public: "endpointAccess",
            private: "endpointAccess",
            cidrs: "endpointAccess",
            assign: ": ",
            code: "code",
            next_run: "the next deployment that changes the cluster",
            reopens: "the code still asks for a public endpoint, so a new cluster from it (another stage, a replacement) is public again",
            also: None,
        },
        Tool::Eksctl => Vocabulary {
            tool,
            resource: "ClusterConfig",
            public: "vpc.clusterEndpoints.publicAccess",
            private: "vpc.clusterEndpoints.privateAccess",
            cidrs: "vpc.publicAccessCIDRs",
            assign: ": ",
            code: "config",
            next_run: "the next `eksctl utils update-cluster-vpc-config -f`",
            reopens: "the next `eksctl utils update-cluster-vpc-config -f` with this config, or `eksctl create cluster` from it, opens the endpoint again",
            also: None,
        },
        Tool::Pulumi => Vocabulary {
            tool,
            resource: "aws.eks.Cluster",
            public: "vpcConfig.endpointPublicAccess",
            private: "vpcConfig.endpointPrivateAccess",
            cidrs: "vpcConfig.publicAccessCidrs",
            assign: ": ",
            code: "code",
            next_run: "the next `pulumi up`",
            reopens: "the next `pulumi up` sees the revert as drift and opens the endpoint again",
            also: Some("pulumi-eks eks.Cluster: endpointPublicAccess, publicAccessCidrs"),
        },
        Tool::Crossplane(CrossplaneProvider::Upjet) => crossplane(
            "Cluster (eks.aws.upbound.io)",
            "spec.forProvider.vpcConfig[0].endpointPublicAccess",
            "spec.forProvider.vpcConfig[0].endpointPrivateAccess",
            "spec.forProvider.vpcConfig[0].publicAccessCidrs",
        ),
        Tool::Crossplane(CrossplaneProvider::Community) => crossplane(
            "Cluster (eks.aws.crossplane.io)",
            "spec.forProvider.resourcesVpcConfig.endpointPublicAccess",
            "spec.forProvider.resourcesVpcConfig.endpointPrivateAccess",
            "spec.forProvider.resourcesVpcConfig.publicAccessCidrs",
        ),
        Tool::Ack => Vocabulary {
            tool,
            resource: "Cluster (eks.services.k8s.aws)",
            public: "spec.resourcesVPCConfig.endpointPublicAccess",
            private: "spec.resourcesVPCConfig.endpointPrivateAccess",
            cidrs: "spec.resourcesVPCConfig.publicAccessCIDRs",
            assign: ": ",
            code: "manifest",
            next_run: "the eks-controller's next resync",
            reopens: "the eks-controller's next resync opens the endpoint again",
            also: None,
        },
        _ => return None,
    })
}

impl Vocabulary {
    /// The settings that comply, in the tool's syntax.
    fn settings(&self, remedy: &Remedy) -> Vec<String> {
        let quoted = |cidrs: &[String]| {
            cidrs
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.tool == Tool::Cdk {
            return match remedy {
                Remedy::Close => vec!["endpointAccess: eks.EndpointAccess.PRIVATE".into()],
                Remedy::Restrict(kept) => vec![format!(
                    "endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom({})",
                    quoted(kept)
                )],
                Remedy::Either => vec![
                    "endpointAccess: eks.EndpointAccess.PRIVATE".into(),
                    "endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(<allowed ranges>)"
                        .into(),
                ],
            };
        }
        let assign = self.assign;
        match remedy {
            Remedy::Close => vec![
                format!("{}{assign}false", self.public),
                format!("{}{assign}true", self.private),
            ],
            Remedy::Restrict(kept) => vec![format!("{}{assign}[{}]", self.cidrs, quoted(kept))],
            Remedy::Either => vec![
                format!("{}{assign}false", self.public),
                format!("{}{assign}[<allowed ranges>]", self.cidrs),
            ],
        }
    }

    /// "Set ... in the ...": one sentence.
    fn set(&self, remedy: &Remedy, settings: &[String]) -> String {
        let joined = match remedy {
            Remedy::Either => settings.join(", or "),
            _ => settings.join(" and "),
        };
        let also = self
            .also
            .map(|also| format!(" ({also})"))
            .unwrap_or_default();
        format!("Set {joined} in the {}{also}.", self.resource)
    }
}

/// What the finding says comes next.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Advice {
    pub iac: Vec<IacAdvice>,
    pub next_steps: Vec<String>,
}

/// The settings to change and the next steps, for an alert of `outcome` on
/// a change made with `tool` (`None`: no record, the sweep) to a cluster
/// that `stack` manages (its CloudFormation stack tag).
pub fn advise(
    outcome: Outcome,
    tool: Option<&Identified>,
    remedy: &Remedy,
    stack: Option<&str>,
) -> Advice {
    let mut advice = Advice::default();
    let tool_kind = tool.map(|t| t.tool);
    let about_the_endpoint = matches!(
        outcome,
        Outcome::Reverted
            | Outcome::RevertFailed
            | Outcome::WouldRevert
            | Outcome::AlreadyCompliant
            | Outcome::NotHandled
    );
    if about_the_endpoint {
        // The tool that made the change; the stack of a stack-tagged cluster,
        // unless that stack is the tool's own (CloudFormation's; eksctl's).
        let owns_the_stack = |t: Tool| {
            t == Tool::CloudFormation || (t == Tool::Eksctl && stack.is_some_and(is_eksctl_stack))
        };
        if let Some(vocabulary) = tool_kind.and_then(vocabulary) {
            let own_stack = stack.filter(|_| owns_the_stack(vocabulary.tool));
            advice.iac.push(endpoint_advice(
                &vocabulary,
                "actor",
                own_stack,
                outcome,
                remedy,
            ));
        }
        if let Some(stack) = stack
            && !tool_kind.is_some_and(owns_the_stack)
        {
            let tool = if is_eksctl_stack(stack) {
                Tool::Eksctl
            } else {
                Tool::CloudFormation
            };
            let vocabulary = vocabulary(tool).expect("both have a vocabulary");
            advice.iac.push(endpoint_advice(
                &vocabulary,
                "stack-tag",
                Some(stack),
                outcome,
                remedy,
            ));
        }
    }
    advice.next_steps = next_steps(outcome, tool, &advice.iac);
    advice
}

fn endpoint_advice(
    vocabulary: &Vocabulary,
    source: &str,
    stack: Option<&str>,
    outcome: Outcome,
    remedy: &Remedy,
) -> IacAdvice {
    let settings = vocabulary.settings(remedy);
    let set = vocabulary.set(remedy, &settings);
    let owner = match stack {
        Some(stack) if vocabulary.tool == Tool::Eksctl => format!("eksctl's stack {stack}"),
        Some(stack) => format!("CloudFormation stack {stack}"),
        None => vocabulary.tool.name(),
    };
    let next = match (outcome, stack) {
        (Outcome::Reverted | Outcome::RevertFailed, Some(_)) => format!(
            "The revert makes {owner} drift: {} unless the {} changes. {set}",
            vocabulary.reopens, vocabulary.code
        ),
        (Outcome::Reverted | Outcome::RevertFailed, None) => format!(
            "{owner} made this change: {} unless the {} changes. {set}",
            vocabulary.reopens, vocabulary.code
        ),
        (Outcome::WouldRevert, _) => format!(
            "{} asks for this endpoint: fix it in the {}, or {} undoes a revert. {set}",
            capitalise(&owner),
            vocabulary.code,
            vocabulary.next_run
        ),
        _ => format!(
            "{} holds this cluster's settings: change the endpoint in the {}, not by hand ({} undoes a change by hand). {set}",
            capitalise(&owner),
            vocabulary.code,
            vocabulary.next_run
        ),
    };
    IacAdvice {
        tool: vocabulary.tool.id().to_string(),
        source: source.to_string(),
        resource: vocabulary.resource.to_string(),
        settings,
        stack: stack.map(str::to_string),
        next,
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The steps people take next: the code first, then the caller, then the policy.
fn next_steps(outcome: Outcome, tool: Option<&Identified>, iac: &[IacAdvice]) -> Vec<String> {
    let mut steps: Vec<String> = iac.iter().map(|advice| advice.next.clone()).collect();
    let tool_kind = tool.map(|t| t.tool);
    match outcome {
        Outcome::ExemptionGranted | Outcome::ExemptionRevoked => {
            steps.extend(exemption_steps(outcome, tool_kind));
            return steps;
        }
        Outcome::NotHandled => {
            steps.insert(
                0,
                "Set the guard up where this happened (see Outcome), or check the cluster by hand now: nobody closes it."
                    .to_string(),
            );
            return steps;
        }
        Outcome::Exempt => {
            steps.push(
                "The cluster is exempt: its endpoint stays public until the exempt tag comes off."
                    .to_string(),
            );
            return steps;
        }
        _ => {}
    }
    if outcome == Outcome::RevertFailed {
        steps.insert(
            0,
            "The endpoint is still open: the guard retries the revert; if EKS keeps refusing it, close the endpoint by hand."
                .to_string(),
        );
    }
    steps.push(ask_the_caller(tool_kind, iac.is_empty()));
    steps.push(
        "If the endpoint must be public, add the caller's range to ALLOWED_PUBLIC_CIDRS instead of reopening it."
            .to_string(),
    );
    steps
}

/// For a granted or ended exemption: confirm it, and where the tag lives
/// when a tool put it on.
fn exemption_steps(outcome: Outcome, tool: Option<Tool>) -> Vec<String> {
    let mut steps = vec![if outcome == Outcome::ExemptionGranted {
        "Confirm with the person named that the exemption is intended; taking the tag off ends it."
            .to_string()
    } else {
        "Confirm with the person named that the exemption was meant to end.".to_string()
    }];
    if let Some(vocabulary) = tool.and_then(vocabulary) {
        steps.push(format!(
            "{} changed the tag, so the tag lives in the code: change it there ({} undoes a tag edited by hand).",
            vocabulary.tool.name(),
            vocabulary.next_run
        ));
    }
    steps
}

/// Whom to ask whether the change was intended, by the tool that made it
/// (`None`: the sweep found it); `no_code`: no code is known to apply it.
fn ask_the_caller(tool: Option<Tool>, no_code: bool) -> String {
    match tool {
        None => "Found by the sweep: CloudTrail's event history for the cluster names who opened it.".to_string(),
        Some(Tool::Console) if no_code => {
            "Made in the AWS console: no code applies it again; confirm with the person named whether it was intended.".to_string()
        }
        Some(Tool::Console) => {
            "Made in the AWS console: confirm with the person named whether it was intended.".to_string()
        }
        Some(Tool::AwsCli) => {
            "Made with the AWS CLI: if a script or pipeline ran it, it runs again; confirm with the person named.".to_string()
        }
        Some(Tool::Sdk(language)) => format!(
            "Made by a program on {}: it repeats the change when it runs again; find it through the role and session named.",
            Tool::Sdk(language).name()
        ),
        Some(tool) if tool.is_infrastructure_as_code() => {
            "Confirm with the owner of the code (the person or pipeline named) whether the change was intended.".to_string()
        }
        Some(_) => "Confirm with the person named whether the change was intended.".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(user_agent: &str) -> Actor {
        Actor {
            user_agent: Some(user_agent.to_string()),
            ..Actor::default()
        }
    }

    fn tool_of(user_agent: &str) -> Tool {
        identify(&agent(user_agent)).tool
    }

    #[test]
    fn agents_name_their_tools_in_the_right_order() {
        let table: &[(&str, Tool)] = &[
            ("", Tool::Unknown),
            ("   ", Tool::Unknown),
            ("PostmanRuntime/6.4.0", Tool::Unknown),
            ("curl/8.5.0", Tool::Unknown),
            (
                "aws-cli/2.22.0 md/awscrt#0.22.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.6 command/eks.update-cluster-config",
                Tool::AwsCli,
            ),
            // The CLI v1 runs on botocore: the CLI rule comes first.
            (
                "aws-cli/1.33.4 Python/3.11.6 Linux/6.1.0 botocore/1.34.4",
                Tool::AwsCli,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
                Tool::Console,
            ),
            (
                "AWS Console, aws-sdk-java/unknown-version Linux/2.6.18",
                Tool::Console,
            ),
            ("console.amazonaws.com", Tool::Console),
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6",
                Tool::Terraform,
            ),
            // Before APN (2016): the provider and the Go SDK.
            (
                "aws-sdk-go/1.4.17 (go1.7.3; darwin; amd64) APN/1.0 HashiCorp/1.0 Terraform/0.7.9",
                Tool::Terraform,
            ),
            // OpenTofu runs the same provider: only an appended token tells.
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.10.6 (+https://www.terraform.io) terraform-provider-aws/6.14.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.39.2 OpenTofu/1.10.6",
                Tool::OpenTofu,
            ),
            (
                "APN/1.0 OpenTofu-S3-Backend/1.0 OpenTofu/1.10.1",
                Tool::OpenTofu,
            ),
            // Pulumi bridges the Terraform provider: the Pulumi rule comes first.
            (
                "APN/1.0 Pulumi/1.0 Pulumi/1.0 Pulumi-Aws/6.66.2 (+https://www.pulumi.com) aws-sdk-go-v2/1.32.6",
                Tool::Pulumi,
            ),
            ("APN/1.0 Pulumi/1.0 PulumiAwsNative/1.12.0", Tool::Pulumi),
            // Upjet providers run the Terraform provider: Crossplane first.
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.1.9 (+https://www.terraform.io) terraform-provider-aws/dev (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.44.15 (go1.17.6; darwin; amd64) crossplane-provider-aws-upbound/v0.0.0",
                Tool::Crossplane(CrossplaneProvider::Upjet),
            ),
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.0.5 (+https://www.terraform.io) terraform-provider-aws/3.56.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.40.29 (go1.16; linux; amd64) crossplane-provider-jet-aws/v0.4.0-30.g2f6b907c.dirty",
                Tool::Crossplane(CrossplaneProvider::Upjet),
            ),
            (
                "aws-sdk-go-v2/1.11.2 os/linux lang/go/1.17 md/GOOS/linux md/GOARCH/amd64 api/ecr/1.9.0 crossplane-provider-aws/v0.26.0-rc.0.18.ge6ac32da.dirty",
                Tool::Crossplane(CrossplaneProvider::Community),
            ),
            // ACK is on the Go SDK: the ACK rule comes first.
            (
                "aws-controllers-k8s/eks.services.k8s.aws-v1.6.0 (GitCommit/abc123; BuildDate/2025-06-01; CRDKind/Cluster; CRDVersion/v1alpha1) aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.2",
                Tool::Ack,
            ),
            (
                "aws-controller-k8s/eks.services.k8s.aws-v0.1.9 (GitCommit/abc; BuildDate/2023-01-01; CRDKind/Cluster; CRDVersion/v1alpha1) aws-sdk-go/1.44.93 (go1.19; linux; amd64)",
                Tool::Ack,
            ),
            // eksctl is on the Go SDK too.
            (
                "aws-sdk-go-v2/1.38.1 ua/2.1 os/linux lang/go#1.24.6 md/GOOS#linux md/GOARCH#amd64 api/eks#1.73.0 eksctl/--Version---0.214.0---PreReleaseID------Metadata----BuildDate---2025-08-27T07-16-45Z---GitCommit---bd7a3c2d--- m/E,g",
                Tool::Eksctl,
            ),
            (
                "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#5.10.226 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.35.36",
                Tool::Sdk(Some("Python")),
            ),
            (
                "aws-sdk-go/1.55.5 (go1.22.5; linux; amd64)",
                Tool::Sdk(Some("Go")),
            ),
            (
                "aws-sdk-go-v2/1.30.3 ua/2.1 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/eks#1.47.0 m/E",
                Tool::Sdk(Some("Go")),
            ),
            (
                "aws-sdk-java/2.28.16 Linux/5.10 OpenJDK_64-Bit_Server_VM/21.0.4+7-LTS Java/21.0.4 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
                Tool::Sdk(Some("Java")),
            ),
            (
                "aws-sdk-kotlin/1.3.40 ua/2.1 api/eks#1.3.40 os/linux#6.1 lang/kotlin#2.0.20 md/javaVersion#21",
                Tool::Sdk(Some("Kotlin")),
            ),
            (
                "aws-sdk-js/3.637.0 ua/2.1 os/linux#5.10.223 lang/js md/nodejs#20.17.0 api/eks#3.637.0 exec-env/AWS_Lambda_nodejs20.x m/D",
                Tool::Sdk(Some("JavaScript")),
            ),
            (
                "aws-sdk-nodejs/2.1691.0 linux/v18.20.4 exec-env/AWS_Lambda_nodejs18.x",
                Tool::Sdk(Some("JavaScript")),
            ),
            (
                "aws-sdk-dotnet-coreclr/3.7.400.17 aws-sdk-dotnet-core/3.7.400.17 .NET_Core/8.0.8 OS/Linux_5.10 ClientAsync",
                Tool::Sdk(Some(".NET")),
            ),
            (
                "aws-sdk-ruby3/3.201.5 ua/2.1 api/eks#1.111.0 os/linux md/x86_64 lang/ruby#3.3.5 md/3.3.5 m/D,N",
                Tool::Sdk(Some("Ruby")),
            ),
            (
                "aws-sdk-php/3.322.0 ua/2.1 OS/Linux/6.1 lang/php#8.3.11 GuzzleHttp/7",
                Tool::Sdk(Some("PHP")),
            ),
            (
                "aws-sdk-rust/1.3.10 os/linux lang/rust/1.94.1 app/eks-endpoint-guard",
                Tool::Sdk(Some("Rust")),
            ),
            (
                "aws-sdk-cpp/1.11.400 ua/2.0 md/aws-crt#0.27 os/Linux#6.1 md/arch#x86_64 lang/c++#C++11",
                Tool::Sdk(Some("C++")),
            ),
            (
                "aws-sdk-swift/1.0.10 ua/2.1 api/eks#1.0.10 os/linux#6.1 lang/swift#5.10",
                Tool::Sdk(Some("Swift")),
            ),
            // An SDK that says only its language, or only that it is an SDK.
            (
                "my-tool/1.0 ua/2.1 os/linux lang/python#3.12.1",
                Tool::Sdk(Some("Python")),
            ),
            ("aws-sdk-zig/0.1.0", Tool::Sdk(None)),
            // Case does not matter; a look-alike word without the slash does.
            ("APN/1.0 hashicorp/1.0 TERRAFORM/1.5.0", Tool::Terraform),
            ("terraformer-export", Tool::Unknown),
        ];
        for (user_agent, expected) in table {
            assert_eq!(tool_of(user_agent), *expected, "{user_agent:?}");
        }
    }

    #[test]
    fn cloudformation_and_the_cdk_are_told_by_the_identity_not_the_agent() {
        let cloudformation = Actor {
            invoked_by: Some("cloudformation.amazonaws.com".into()),
            source_ip: Some("cloudformation.amazonaws.com".into()),
            user_agent: Some("cloudformation.amazonaws.com".into()),
            ..Actor::default()
        };
        let found = identify(&cloudformation);
        assert_eq!(found.tool, Tool::CloudFormation);
        assert!(found.evidence.contains("invokedBy"), "{}", found.evidence);
        // invokedBy wins over whatever the agent says.
        let mut via_terraform = cloudformation.clone();
        via_terraform.user_agent = Some("APN/1.0 HashiCorp/1.0 Terraform/1.9.8".into());
        assert_eq!(identify(&via_terraform).tool, Tool::CloudFormation);
        // Without invokedBy, the agent alone still tells.
        assert_eq!(
            tool_of("cloudformation.amazonaws.com"),
            Tool::CloudFormation
        );
        let from_the_service = Actor {
            source_ip: Some("cloudformation.amazonaws.com".into()),
            user_agent: Some("aws-internal/3".into()),
            ..Actor::default()
        };
        assert_eq!(
            identify(&from_the_service).evidence,
            "sourceIPAddress cloudformation.amazonaws.com"
        );

        let cdk = Actor {
            identity_type: Some("AssumedRole".into()),
            session_name: Some("AWSCDK.EKSCluster.Update.4c2a8d9e".into()),
            user_agent: Some("aws-sdk-js/3.637.0 ua/2.1 lang/js md/nodejs#20.17.0".into()),
            ..Actor::default()
        };
        let found = identify(&cdk);
        assert_eq!(found.tool, Tool::Cdk);
        assert!(found.evidence.contains("AWSCDK.EKSCluster.Update"));
        // A session merely called like the CDK's is not the CDK.
        let mut other = cdk.clone();
        other.session_name = Some("AWSCDK-person".into());
        assert_eq!(identify(&other).tool, Tool::Sdk(Some("JavaScript")));
    }

    #[test]
    fn the_evidence_quotes_the_agent_as_it_is_spelt() {
        let found = identify(&agent("APN/1.0 HashiCorp/1.0 Terraform/1.9.8"));
        assert_eq!(
            found.evidence,
            "user agent has Terraform/ (OpenTofu's AWS provider says the same)"
        );
        let found = identify(&agent("PostmanRuntime/6.4.0"));
        assert!(
            found.evidence.contains("PostmanRuntime/6.4.0"),
            "{}",
            found.evidence
        );
        assert_eq!(
            identify(&Actor::default()).evidence,
            "the record has no user agent"
        );
        let sdk = ToolRef::from(&identify(&agent(
            "aws-sdk-go/1.55.5 (go1.22.5; linux; amd64)",
        )));
        assert_eq!(sdk.id, "sdk");
        assert_eq!(sdk.language.as_deref(), Some("Go"));
        assert_eq!(sdk.name, "AWS SDK for Go");
        assert!(!sdk.infrastructure_as_code);
    }

    fn identified(tool: Tool) -> Identified {
        Identified {
            tool,
            evidence: "test".into(),
        }
    }

    #[test]
    fn infrastructure_as_code_names_the_setting_for_the_violation() {
        let table: &[(Tool, &str, &str, &str)] = &[
            (
                Tool::Terraform,
                "aws_eks_cluster",
                "vpc_config.endpoint_public_access = false",
                "vpc_config.public_access_cidrs = [\"203.0.113.0/24\"]",
            ),
            (
                Tool::OpenTofu,
                "aws_eks_cluster",
                "vpc_config.endpoint_public_access = false",
                "vpc_config.public_access_cidrs = [\"203.0.113.0/24\"]",
            ),
            (
                Tool::CloudFormation,
                "AWS::EKS::Cluster",
                "ResourcesVpcConfig.EndpointPublicAccess: false",
                "ResourcesVpcConfig.PublicAccessCidrs: [\"203.0.113.0/24\"]",
            ),
            (
                Tool::Cdk,
                "aws-eks Cluster",
                "endpointAccess: eks.EndpointAccess.PRIVATE",
                "endpointAccess: eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(\"203.0.113.0/24\")",
            ),
            (
                Tool::Eksctl,
                "ClusterConfig",
                "vpc.clusterEndpoints.publicAccess: false",
                "vpc.publicAccessCIDRs: [\"203.0.113.0/24\"]",
            ),
            (
                Tool::Pulumi,
                "aws.eks.Cluster",
                "vpcConfig.endpointPublicAccess: false",
                "vpcConfig.publicAccessCidrs: [\"203.0.113.0/24\"]",
            ),
            (
                Tool::Crossplane(CrossplaneProvider::Upjet),
                "Cluster (eks.aws.upbound.io)",
                "spec.forProvider.vpcConfig[0].endpointPublicAccess: false",
                "spec.forProvider.vpcConfig[0].publicAccessCidrs: [\"203.0.113.0/24\"]",
            ),
            (
                Tool::Crossplane(CrossplaneProvider::Community),
                "Cluster (eks.aws.crossplane.io)",
                "spec.forProvider.resourcesVpcConfig.endpointPublicAccess: false",
                "spec.forProvider.resourcesVpcConfig.publicAccessCidrs: [\"203.0.113.0/24\"]",
            ),
            (
                Tool::Ack,
                "Cluster (eks.services.k8s.aws)",
                "spec.resourcesVPCConfig.endpointPublicAccess: false",
                "spec.resourcesVPCConfig.publicAccessCIDRs: [\"203.0.113.0/24\"]",
            ),
        ];
        let restrict = Remedy::Restrict(vec!["203.0.113.0/24".into()]);
        for (tool, resource, close, cut) in table {
            let closed = advise(
                Outcome::Reverted,
                Some(&identified(*tool)),
                &Remedy::Close,
                None,
            );
            let [advice] = closed.iac.as_slice() else {
                panic!("{tool:?}: one piece of advice, got {:?}", closed.iac)
            };
            assert_eq!(advice.tool, tool.id());
            assert_eq!(advice.source, "actor");
            assert_eq!(advice.resource, *resource);
            assert_eq!(advice.settings[0], *close, "{tool:?}");
            assert!(advice.next.contains(close), "{tool:?}: {}", advice.next);
            assert!(advice.next.contains(" changes. Set "), "{}", advice.next);
            assert!(!advice.settings.iter().any(|s| s.contains("203.0.113.0/24")));
            assert_eq!(closed.next_steps[0], advice.next, "the code comes first");

            let cut_back = advise(Outcome::Reverted, Some(&identified(*tool)), &restrict, None);
            assert_eq!(cut_back.iac[0].settings, vec![cut.to_string()], "{tool:?}");
            assert!(
                !cut_back.iac[0].next.contains(close),
                "{tool:?}: closing is not asked"
            );
        }
    }

    #[test]
    fn a_change_by_hand_gets_no_infrastructure_warning() {
        for tool in [
            Tool::Console,
            Tool::AwsCli,
            Tool::Sdk(Some("Python")),
            Tool::Sdk(None),
            Tool::Unknown,
        ] {
            let advice = advise(
                Outcome::Reverted,
                Some(&identified(tool)),
                &Remedy::Close,
                None,
            );
            assert!(advice.iac.is_empty(), "{tool:?}: {:?}", advice.iac);
            let text = advice.next_steps.join(" ");
            assert!(!text.contains("apply"), "{tool:?}: {text}");
            assert!(text.contains("ALLOWED_PUBLIC_CIDRS"), "{text}");
        }
        let console = advise(
            Outcome::Reverted,
            Some(&identified(Tool::Console)),
            &Remedy::Close,
            None,
        );
        assert!(
            console.next_steps[0].contains("AWS console"),
            "{:?}",
            console.next_steps
        );
        let python = advise(
            Outcome::Reverted,
            Some(&identified(Tool::Sdk(Some("Python")))),
            &Remedy::Close,
            None,
        );
        assert!(
            python.next_steps[0].contains("AWS SDK for Python"),
            "{:?}",
            python.next_steps
        );
    }

    #[test]
    fn a_stack_tagged_cluster_is_warned_of_drift_even_without_an_actor() {
        let swept = advise(
            Outcome::Reverted,
            None,
            &Remedy::Close,
            Some("payments-prod"),
        );
        let [advice] = swept.iac.as_slice() else {
            panic!("{:?}", swept.iac)
        };
        assert_eq!(advice.source, "stack-tag");
        assert_eq!(advice.tool, "cloudformation");
        assert_eq!(advice.stack.as_deref(), Some("payments-prod"));
        assert!(
            advice.next.contains("stack payments-prod drift"),
            "{}",
            advice.next
        );
        assert!(
            advice
                .next
                .contains("ResourcesVpcConfig.EndpointPublicAccess: false")
        );
        assert!(swept.next_steps.iter().any(|s| s.contains("sweep")));

        // Changed in the console on a stack's cluster: the stack still drifts.
        let console = advise(
            Outcome::Reverted,
            Some(&identified(Tool::Console)),
            &Remedy::Close,
            Some("payments-prod"),
        );
        assert_eq!(console.iac.len(), 1);
        assert_eq!(console.iac[0].source, "stack-tag");

        // CloudFormation itself: one piece of advice, naming its stack.
        let by_stack = advise(
            Outcome::Reverted,
            Some(&identified(Tool::CloudFormation)),
            &Remedy::Close,
            Some("payments-prod"),
        );
        assert_eq!(by_stack.iac.len(), 1);
        assert_eq!(by_stack.iac[0].source, "actor");
        assert_eq!(by_stack.iac[0].stack.as_deref(), Some("payments-prod"));
        assert!(by_stack.iac[0].next.contains("drift"));

        // Terraform on a stack's cluster: both the code and the stack.
        let both = advise(
            Outcome::Reverted,
            Some(&identified(Tool::Terraform)),
            &Remedy::Close,
            Some("payments-prod"),
        );
        let tools: Vec<&str> = both.iac.iter().map(|a| a.tool.as_str()).collect();
        assert_eq!(tools, ["terraform", "cloudformation"]);

        // eksctl's own stack names eksctl's config, once.
        let eksctl = advise(
            Outcome::Reverted,
            Some(&identified(Tool::Eksctl)),
            &Remedy::Close,
            Some("eksctl-prod-eu-cluster"),
        );
        assert_eq!(eksctl.iac.len(), 1);
        assert!(
            eksctl.iac[0]
                .next
                .starts_with("The revert makes eksctl's stack eksctl-prod-eu-cluster drift"),
            "{}",
            eksctl.iac[0].next
        );
        let eksctl_swept = advise(
            Outcome::Reverted,
            None,
            &Remedy::Close,
            Some("eksctl-prod-eu-cluster"),
        );
        assert_eq!(eksctl_swept.iac[0].tool, "eksctl");
        assert!(
            eksctl_swept.iac[0]
                .next
                .contains("vpc.clusterEndpoints.publicAccess: false")
        );
    }

    #[test]
    fn what_comes_next_depends_on_the_outcome() {
        let terraform = identified(Tool::Terraform);
        let report = advise(
            Outcome::WouldRevert,
            Some(&terraform),
            &Remedy::Close,
            Some("s"),
        );
        assert!(
            report.iac[0]
                .next
                .starts_with("Terraform asks for this endpoint: fix it in the code"),
            "{}",
            report.iac[0].next
        );
        assert!(
            !report.iac[1].next.contains("drift"),
            "nothing was reverted: no drift yet"
        );

        let failed = advise(
            Outcome::RevertFailed,
            Some(&terraform),
            &Remedy::Close,
            None,
        );
        assert!(
            failed.next_steps[0].contains("still open"),
            "{:?}",
            failed.next_steps
        );
        assert!(failed.next_steps[1].contains("terraform apply"));

        let not_handled = advise(Outcome::NotHandled, Some(&terraform), &Remedy::Either, None);
        assert!(not_handled.next_steps[0].contains("nobody closes it"));
        let settings = &not_handled.iac[0].settings;
        assert!(
            settings[0].contains("endpoint_public_access = false"),
            "{settings:?}"
        );
        assert!(settings[1].contains("public_access_cidrs"), "{settings:?}");

        let exempt = advise(Outcome::Exempt, Some(&terraform), &Remedy::Close, Some("s"));
        assert!(exempt.iac.is_empty(), "nothing to fix while exempt");
        assert!(exempt.next_steps[0].contains("exempt"));

        let granted = advise(
            Outcome::ExemptionGranted,
            Some(&terraform),
            &Remedy::Either,
            None,
        );
        assert!(granted.iac.is_empty());
        assert!(
            granted
                .next_steps
                .iter()
                .any(|s| s.contains("terraform apply")),
            "{:?}",
            granted.next_steps
        );
        let by_hand = advise(
            Outcome::ExemptionGranted,
            Some(&identified(Tool::Console)),
            &Remedy::Either,
            None,
        );
        assert_eq!(by_hand.next_steps.len(), 1);
    }

    #[test]
    fn the_stack_tag_is_read_from_the_clusters_tags() {
        let mut tags = std::collections::HashMap::new();
        assert_eq!(cloudformation_stack(&tags), None);
        tags.insert(CLOUDFORMATION_STACK_TAG.to_string(), String::new());
        assert_eq!(cloudformation_stack(&tags), None);
        tags.insert(CLOUDFORMATION_STACK_TAG.to_string(), "payments-prod".into());
        assert_eq!(cloudformation_stack(&tags), Some("payments-prod"));
    }

    #[test]
    fn remedies_follow_the_decided_fix() {
        let kept = vec!["203.0.113.0/24".to_string()];
        assert_eq!(
            Remedy::of(&Action::Revert(EndpointFix::ClosePublicEndpoint)),
            Remedy::Close
        );
        assert_eq!(
            Remedy::of(&Action::WouldRevert(EndpointFix::RestrictPublicCidrs(
                kept.clone()
            ))),
            Remedy::Restrict(kept)
        );
        assert_eq!(Remedy::of(&Action::AlreadyCompliant), Remedy::Either);
        assert_eq!(Remedy::of(&Action::Nothing), Remedy::Either);
    }
}
