//! SQLite's result codes classified into [`Error`] variants: an extended result code
//! to its variant ([`Error::from_sqlite_code`]), a `rusqlite::Error` to an [`Error`],
//! and back ([`Error::sqlite_code`]).

use rusqlite::ffi;

use super::{ConstraintKind, Error};

impl Error {
    /// Classifies an SQLite extended result code and message into a variant.
    pub fn from_sqlite_code(extended: i32, message: impl Into<String>) -> Self {
        let message = message.into();
        let code = extended;
        match extended & 0xff {
            ffi::SQLITE_BUSY => Error::Busy { code, message },
            // Held by this connection's own statement (or a shared-cache sibling):
            // waiting does not release it, so it is not Busy and not retried.
            ffi::SQLITE_LOCKED => Error::Locked { code, message },
            ffi::SQLITE_INTERRUPT | ffi::SQLITE_PROTOCOL => Error::Interrupted { code, message },
            ffi::SQLITE_CONSTRAINT => {
                let constraint = match extended {
                    ffi::SQLITE_CONSTRAINT_UNIQUE => ConstraintKind::Unique,
                    ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ConstraintKind::PrimaryKey,
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
                    ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
                    ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
                    _ => ConstraintKind::Other,
                };
                Error::Constraint { constraint, code, message }
            }
            ffi::SQLITE_CORRUPT => Error::Corrupt { code, message },
            ffi::SQLITE_NOTADB => Error::NotADatabase { code, message },
            ffi::SQLITE_FULL => Error::DiskFull { code, message },
            ffi::SQLITE_IOERR => Error::SqliteIo { code, message },
            ffi::SQLITE_CANTOPEN => Error::CannotOpen { code, message },
            ffi::SQLITE_READONLY => Error::ReadOnly { code, message },
            ffi::SQLITE_SCHEMA => Error::Schema { message },
            _ => Error::Sql { code, message },
        }
    }

    /// SQLite's extended result code, when the error came from SQLite.
    pub fn sqlite_code(&self) -> Option<i32> {
        match self {
            Error::Busy { code, .. }
            | Error::Interrupted { code, .. }
            | Error::Locked { code, .. }
            | Error::Constraint { code, .. }
            | Error::ReadOnly { code, .. }
            | Error::Sql { code, .. }
            | Error::Corrupt { code, .. }
            | Error::SqliteIo { code, .. }
            | Error::CannotOpen { code, .. }
            | Error::NotADatabase { code, .. }
            | Error::DiskFull { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// E2004 for a database file that cannot be opened (`SQLITE_CANTOPEN`): missing,
    /// not a regular file, or refused by SQLite for another reason given in `message`.
    pub fn cannot_open(message: impl Into<String>) -> Self {
        Error::CannotOpen { code: ffi::SQLITE_CANTOPEN, message: message.into() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(e, msg) => {
                let message = msg.unwrap_or_else(|| e.to_string());
                Error::from_sqlite_code(e.extended_code, message)
            }
            rusqlite::Error::QueryReturnedNoRows => Error::NotFound { what: "query returned no rows".into() },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::ToSqlConversionFailure(..)
            | rusqlite::Error::NulError(..) => Error::Conversion { message: err.to_string() },
            rusqlite::Error::InvalidPath(path) => Error::CannotOpen {
                code: ffi::SQLITE_CANTOPEN,
                message: format!("invalid path {}", path.display()),
            },
            other => Error::Sql { code: ffi::SQLITE_MISUSE, message: other.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn failure(extended: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended), Some("m".into()))
    }

    #[test]
    fn extended_result_codes_map_to_their_kind() {
        use ffi::*;
        let cases: &[(i32, ErrorKind, &str, Option<ConstraintKind>)] = &[
            (SQLITE_BUSY, ErrorKind::Busy, "E2008", None),
            (SQLITE_BUSY_RECOVERY, ErrorKind::Busy, "E2008", None),
            (SQLITE_BUSY_SNAPSHOT, ErrorKind::Busy, "E2008", None),
            (SQLITE_BUSY_TIMEOUT, ErrorKind::Busy, "E2008", None),
            (SQLITE_LOCKED, ErrorKind::Invalid, "E2010", None),
            (SQLITE_LOCKED_SHAREDCACHE, ErrorKind::Invalid, "E2010", None),
            (SQLITE_LOCKED_VTAB, ErrorKind::Invalid, "E2010", None),
            (SQLITE_CONSTRAINT_UNIQUE, ErrorKind::Constraint, "E4001", Some(ConstraintKind::Unique)),
            (SQLITE_CONSTRAINT_PRIMARYKEY, ErrorKind::Constraint, "E4001", Some(ConstraintKind::PrimaryKey)),
            (SQLITE_CONSTRAINT_FOREIGNKEY, ErrorKind::Constraint, "E4001", Some(ConstraintKind::ForeignKey)),
            (SQLITE_CONSTRAINT_CHECK, ErrorKind::Constraint, "E4001", Some(ConstraintKind::Check)),
            (SQLITE_CONSTRAINT_NOTNULL, ErrorKind::Constraint, "E4001", Some(ConstraintKind::NotNull)),
            (SQLITE_CONSTRAINT_TRIGGER, ErrorKind::Constraint, "E4001", Some(ConstraintKind::Other)),
            (SQLITE_CORRUPT, ErrorKind::Corruption, "E5001", None),
            (SQLITE_CORRUPT_INDEX, ErrorKind::Corruption, "E5001", None),
            (SQLITE_CORRUPT_SEQUENCE, ErrorKind::Corruption, "E5001", None),
            (SQLITE_NOTADB, ErrorKind::Corruption, "E5002", None),
            (SQLITE_FULL, ErrorKind::Storage, "E5003", None),
            (SQLITE_IOERR, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_READ, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_SHORT_READ, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_WRITE, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_FSYNC, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_NOMEM, ErrorKind::Io, "E5004", None),
            (SQLITE_CANTOPEN, ErrorKind::Unavailable, "E2004", None),
            (SQLITE_CANTOPEN_ISDIR, ErrorKind::Unavailable, "E2004", None),
            (SQLITE_READONLY, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_RECOVERY, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_CANTLOCK, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_ROLLBACK, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_DBMOVED, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_CANTINIT, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_DIRECTORY, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_INTERRUPT, ErrorKind::Transient, "E2009", None),
            (SQLITE_SCHEMA, ErrorKind::Schema, "E3001", None),
            (SQLITE_ERROR, ErrorKind::Invalid, "E4004", None),
        ];
        for &(extended, kind, code, constraint) in cases {
            let err = crate::error::Error::from(failure(extended));
            assert_eq!(err.kind(), kind, "kind of extended code {extended}");
            assert_eq!(err.code(), code, "code of extended code {extended}");
            assert_eq!(err.constraint(), constraint, "constraint of extended code {extended}");
            if kind != ErrorKind::Schema {
                assert_eq!(err.sqlite_code(), Some(extended), "sqlite code kept for {extended}");
            }
            assert_eq!(err.is_retryable(), matches!(kind, ErrorKind::Busy | ErrorKind::Transient));
        }
    }

    #[test]
    fn rusqlite_errors_without_a_result_code_are_classified() {
        assert_eq!(Error::from(rusqlite::Error::QueryReturnedNoRows).kind(), ErrorKind::NotFound);
        let conversion = rusqlite::Error::InvalidColumnType(0, "x".into(), rusqlite::types::Type::Text);
        assert_eq!(Error::from(conversion).code(), "E4005");
        assert_eq!(Error::from(rusqlite::Error::ExecuteReturnedResults).code(), "E4004");
    }

    #[test]
    fn cannot_open_is_e2004_with_sqlites_cantopen_code() {
        let err = Error::cannot_open("/nowhere/app.db does not exist or is not a file");
        assert_eq!((err.code(), err.kind()), ("E2004", ErrorKind::Unavailable));
        assert_eq!(err.sqlite_code(), Some(ffi::SQLITE_CANTOPEN));
        assert_eq!(err.to_string(), "cannot open database: /nowhere/app.db does not exist or is not a file");
    }
}
