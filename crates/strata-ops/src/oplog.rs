//! What each ops report counts as `rows` on its operation span ([`strata_pool::operation`]):
//! pages for the operations that copy or verify a whole database, entries for listings,
//! findings for a health check.

use strata_pool::Affected;

use crate::backup::{BackupReport, PruneReport, VerifyReport};
use crate::health::HealthReport;
use crate::recover::RecoverReport;
use crate::replication::LitestreamConfig;
use crate::restore::{ReplicaRestoreReport, RestoreReport};
use crate::{AdviceReport, StoreReport};

impl Affected for BackupReport {
    /// The pages copied.
    fn affected(&self) -> u64 {
        self.manifest.page_count
    }
}

impl Affected for VerifyReport {
    /// The pages of the verified file.
    fn affected(&self) -> u64 {
        self.page_count
    }
}

impl Affected for PruneReport {
    /// The backups removed.
    fn affected(&self) -> u64 {
        self.removed.len().affected()
    }
}

impl Affected for RestoreReport {
    /// The pages of the backup put in place.
    fn affected(&self) -> u64 {
        self.verification.page_count
    }
}

impl Affected for ReplicaRestoreReport {
    /// The pages of the restored replica put in place.
    fn affected(&self) -> u64 {
        self.verification.page_count
    }
}

impl Affected for RecoverReport {
    /// The rows salvaged (newer or changed than the restored backup's).
    fn affected(&self) -> u64 {
        self.salvage.iter().flat_map(|s| &s.tables).map(|t| t.new_rows + t.changed_rows).sum()
    }
}

impl Affected for HealthReport {
    /// The findings.
    fn affected(&self) -> u64 {
        self.findings.len().affected()
    }
}

impl Affected for AdviceReport {
    /// The queries advised on.
    fn affected(&self) -> u64 {
        self.queries.len().affected()
    }
}

impl Affected for StoreReport {
    /// The documents checked.
    fn affected(&self) -> u64 {
        self.documents
    }
}

impl Affected for LitestreamConfig {
    /// One config written.
    fn affected(&self) -> u64 {
        1
    }
}
