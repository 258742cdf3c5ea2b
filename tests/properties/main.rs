//! The reliability properties of strata, one module per property, named after its number
//! and title. Each test opens real SQLite files in temp directories and injects real faults
//! (a file deleted or replaced, a lock held by another process, a full disk through
//! `max_page_count`, a read-only open, a corrupted page). docs/properties.md maps each
//! property to its tests.

mod p01_connection_recovery;
mod p02_graceful_degradation;
mod p03_schema_validation_on_startup;
mod p04_automatic_migration_application;
mod p05_migration_rollback_on_failure;
mod p06_transaction_atomicity;
mod p07_automatic_transaction_rollback;
mod p08_user_friendly_error_messages;
mod p09_detailed_technical_logging;
mod p10_health_monitoring_data_collection;
mod p11_integrity_checking;
mod p12_automatic_backup_creation;
mod p13_corruption_recovery;
mod p14_non_database_command_continuity;
mod p15_audit_log_retry_pattern;
mod p16_configuration_hot_reload;
mod p17_comprehensive_operation_logging;
