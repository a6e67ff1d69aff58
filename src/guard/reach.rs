//! Act only where the guard may.
//!
//! A central bus can receive other accounts' and other regions' events. An
//! EKS client of the function's own account and region would then read, and
//! change, a same-named cluster that nobody touched, or find nothing and
//! answer success while the cluster that was opened stays public. So before
//! any EKS call the event's account and region are checked; what the guard
//! cannot reach is alerted and fails the invocation, naming what to configure.

use tracing::warn;

use super::{Guard, Invocation, log_decision};
use crate::alert;
use crate::config::Config;
use crate::eks::{AccountRef, Eks, Place};
use crate::error::GuardError;
use crate::event::ClusterChange;
use crate::outcome::Outcome;

impl Guard {
    /// The EKS client for the change's cluster, and the function's own
    /// account and region; or the alerted refusal.
    pub(super) async fn reach(
        &self,
        change: &ClusterChange,
        invocation: &Invocation,
    ) -> Result<(Eks, AccountRef), GuardError> {
        let place = Place::new(&change.account, &change.region);
        // Without the function's ARN (tests calling the guard directly) the
        // event's own place is taken as the function's.
        let home = invocation.home().unwrap_or_else(|| AccountRef {
            partition: "aws".to_string(),
            region: change.region.clone(),
            account: change.account.clone(),
        });
        let why = match refusal(
            &self.config,
            &place,
            &home,
            self.eks.reaches_other_accounts(),
        ) {
            None => match self.eks.for_place(&place, &home).await {
                Some(eks) => return Ok((eks, home)),
                None => format!("no EKS client for {place}"),
            },
            Some(why) => why,
        };
        warn!(cluster = %change.cluster_name, %place, why = %why, "change out of reach");
        log_decision(change, Outcome::NotHandled, &why);
        let arn = alert::cluster_arn(change, None, &home.partition);
        let finding = alert::not_handled_finding(change, &arn, &why, self.config.mode);
        self.send_alert(&change.cluster_name, &finding).await?;
        Err(GuardError::OutOfReach {
            cluster: change.cluster_name.clone(),
            place: place.to_string(),
            why,
        })
    }
}

/// Why the guard may not act at `place`, or `None` when it may.
fn refusal(
    config: &Config,
    place: &Place,
    home: &AccountRef,
    reaches_other_accounts: bool,
) -> Option<String> {
    if place.account != home.account && !reaches_other_accounts {
        return Some(format!(
            "the change is in account {}, not the function's own account {}, and REMEDIATION_ROLE_NAME is not set: set it (and deploy the member remediation role in {}), or deploy the guard in that account",
            place.account, home.account, place.account
        ));
    }
    if !config.guards_region(&place.region, &home.region) {
        let listed = if config.guard_regions.is_empty() {
            "none".to_string()
        } else {
            config.guard_regions.join(",")
        };
        return Some(format!(
            "the change is in region {}, which this function does not guard (its own region is {}; GUARD_REGIONS: {listed}): add {} to GUARD_REGIONS, or deploy the guard in that region",
            place.region, home.region, place.region
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(regions: &str) -> Config {
        Config::from_lookup(|key| match key {
            "ALERT_TOPIC_ARN" => Some("arn:aws:sns:eu-west-1:111122223333:alerts".into()),
            "GUARD_REGIONS" => Some(regions.into()),
            _ => None,
        })
        .unwrap()
    }

    fn home() -> AccountRef {
        AccountRef {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
        }
    }

    #[test]
    fn the_functions_own_place_is_always_in_reach() {
        let own = Place::new("111122223333", "eu-west-1");
        assert_eq!(refusal(&config(""), &own, &home(), false), None);
    }

    #[test]
    fn another_account_needs_the_remediation_role() {
        let member = Place::new("444455556666", "eu-west-1");
        let why = refusal(&config(""), &member, &home(), false).expect("refused");
        assert!(why.contains("444455556666"), "{why}");
        assert!(why.contains("REMEDIATION_ROLE_NAME"), "{why}");
        assert_eq!(refusal(&config(""), &member, &home(), true), None);
    }

    #[test]
    fn another_region_must_be_listed() {
        let frankfurt = Place::new("111122223333", "eu-central-1");
        let why = refusal(&config(""), &frankfurt, &home(), true).expect("refused");
        assert!(
            why.contains("eu-central-1") && why.contains("GUARD_REGIONS"),
            "{why}"
        );
        assert_eq!(
            refusal(&config("eu-central-1"), &frankfurt, &home(), false),
            None
        );
        // Listed regions do not stand in for the role: both must hold.
        let member_frankfurt = Place::new("444455556666", "eu-central-1");
        assert!(refusal(&config("eu-central-1"), &member_frankfurt, &home(), false).is_some());
    }
}
