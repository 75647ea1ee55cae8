//! pyaleph's stable numeric rejection codes (`error_code` in API responses).
//!
//! Clients branch on these numbers, so they never change. Each code is either *retryable*
//! (the message may become valid later: content not fetched yet, a target not seen yet) or a
//! definitive rejection.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $name:literal, $retry:literal, $msg:literal;)*) => {
        /// A rejection / retry reason, with pyaleph's number (serialised as that integer).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(#[doc = $msg] $variant),*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// pyaleph's number for this code.
            pub const fn code(self) -> i32 {
                match self { $(Self::$variant => $code),* }
            }

            /// The code for a number; `None` for numbers pyaleph does not define.
            pub const fn from_code(code: i32) -> Option<Self> {
                match code { $($code => Some(Self::$variant),)* _ => None }
            }

            /// pyaleph's constant name (`"INVALID_FORMAT"`, …).
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }

            /// Whether a message failing with this code is retried later (else rejected now).
            pub const fn is_retryable(self) -> bool {
                match self { $(Self::$variant => $retry),* }
            }

            /// A one-line human explanation.
            pub const fn message(self) -> &'static str {
                match self { $(Self::$variant => $msg),* }
            }
        }
    };
}

error_codes! {
    InternalError = -1, "INTERNAL_ERROR", true, "Internal error while processing the message";
    InvalidFormat = 0, "INVALID_FORMAT", false, "The message or its content is malformed";
    InvalidSignature = 1, "INVALID_SIGNATURE", false, "The signature is missing or invalid";
    PermissionDenied = 2, "PERMISSION_DENIED", false, "The sender may not act for the owner";
    ContentUnavailable = 3, "CONTENT_UNAVAILABLE", true, "The message content could not be fetched";
    FileUnavailable = 4, "FILE_UNAVAILABLE", true, "The file referenced by the message could not be fetched";
    BalanceInsufficient = 5, "BALANCE_INSUFFICIENT", false, "The owner's balance is too low for this message";
    CreditInsufficient = 6, "CREDIT_INSUFFICIENT", false, "The owner has less than one day of credits for this message";
    PostAmendNoTarget = 100, "POST_AMEND_NO_TARGET", false, "An amend POST has no ref to the post it amends";
    PostAmendTargetNotFound = 101, "POST_AMEND_TARGET_NOT_FOUND", true, "The post to amend is not known yet";
    PostAmendAmend = 102, "POST_AMEND_AMEND", false, "An amend cannot amend another amend";
    StoreRefNotFound = 200, "STORE_REF_NOT_FOUND", true, "The STORE message named by ref is not known yet";
    StoreUpdateUpdate = 201, "STORE_UPDATE_UPDATE", false, "A STORE cannot update a STORE that is itself an update";
    InvalidPaymentMethod = 202, "INVALID_PAYMENT_METHOD", false, "This payment method is not accepted for this message";
    VmRefNotFound = 300, "VM_REF_NOT_FOUND", true, "The program or instance to replace is not known yet";
    VmVolumeNotFound = 301, "VM_VOLUME_NOT_FOUND", true, "A code, runtime, data or volume reference is not known yet";
    VmAmendNotAllowed = 302, "VM_AMEND_NOT_ALLOWED", false, "The program or instance to replace does not allow amends";
    VmUpdateUpdate = 303, "VM_UPDATE_UPDATE", false, "Cannot replace a program or instance that is itself a replacement";
    VmVolumeTooSmall = 304, "VM_VOLUME_TOO_SMALL", false, "A persistent volume is smaller than its parent file";
    ForgetNoTarget = 500, "FORGET_NO_TARGET", false, "A FORGET names neither hashes nor aggregates";
    ForgetTargetNotFound = 501, "FORGET_TARGET_NOT_FOUND", true, "A message or aggregate to forget is not known yet";
    ForgetForget = 502, "FORGET_FORGET", false, "A FORGET cannot target another FORGET";
    ForgetNotAllowed = 503, "FORGET_NOT_ALLOWED", false, "The target is in use (e.g. a volume of a live VM) and cannot be forgotten";
    ForgottenDuplicate = 504, "FORGOTTEN_DUPLICATE", false, "This message was forgotten and cannot be submitted again";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.code())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = i32::deserialize(deserializer)?;
        Self::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {code}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_pyaleph() {
        let expected: &[(i32, &str, bool)] = &[
            (-1, "INTERNAL_ERROR", true),
            (0, "INVALID_FORMAT", false),
            (1, "INVALID_SIGNATURE", false),
            (2, "PERMISSION_DENIED", false),
            (3, "CONTENT_UNAVAILABLE", true),
            (4, "FILE_UNAVAILABLE", true),
            (5, "BALANCE_INSUFFICIENT", false),
            (6, "CREDIT_INSUFFICIENT", false),
            (100, "POST_AMEND_NO_TARGET", false),
            (101, "POST_AMEND_TARGET_NOT_FOUND", true),
            (102, "POST_AMEND_AMEND", false),
            (200, "STORE_REF_NOT_FOUND", true),
            (201, "STORE_UPDATE_UPDATE", false),
            (202, "INVALID_PAYMENT_METHOD", false),
            (300, "VM_REF_NOT_FOUND", true),
            (301, "VM_VOLUME_NOT_FOUND", true),
            (302, "VM_AMEND_NOT_ALLOWED", false),
            (303, "VM_UPDATE_UPDATE", false),
            (304, "VM_VOLUME_TOO_SMALL", false),
            (500, "FORGET_NO_TARGET", false),
            (501, "FORGET_TARGET_NOT_FOUND", true),
            (502, "FORGET_FORGET", false),
            (503, "FORGET_NOT_ALLOWED", false),
            (504, "FORGOTTEN_DUPLICATE", false),
        ];
        assert_eq!(ErrorCode::ALL.len(), expected.len());
        for (code, name, retry) in expected {
            let ec = ErrorCode::from_code(*code).unwrap();
            assert_eq!(
                (ec.code(), ec.name(), ec.is_retryable()),
                (*code, *name, *retry)
            );
            assert!(!ec.message().is_empty());
        }
        assert_eq!(ErrorCode::from_code(7), None);
    }

    #[test]
    fn serde_is_the_number() {
        assert_eq!(
            serde_json::to_string(&ErrorCode::ForgetNoTarget).unwrap(),
            "500"
        );
        assert_eq!(
            serde_json::from_str::<ErrorCode>("-1").unwrap(),
            ErrorCode::InternalError
        );
        assert!(serde_json::from_str::<ErrorCode>("42").is_err());
    }
}
