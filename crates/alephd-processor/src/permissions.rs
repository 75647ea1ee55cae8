//! Who may act for an owner: the owner itself, or an address its `security` aggregate
//! delegates to, with optional chain / channels / types / post_types / aggregate_keys filters.

use alephd_db::{Conn, ops};
use alephd_message::{Address, Chain, ErrorCode, MessageType};
use serde_json::Value;

use crate::{ProcessingError, pipeline::ApplyError, staged::Staged};

/// The aggregate key holding an owner's delegations.
pub const SECURITY_KEY: &str = "security";

/// What a sender wants to do on an owner's behalf.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Action<'a> {
    pub(crate) sender: &'a Address,
    pub(crate) owner: &'a Address,
    pub(crate) chain: Chain,
    pub(crate) channel: Option<&'a str>,
    pub(crate) message_type: MessageType,
    pub(crate) post_type: Option<&'a str>,
    pub(crate) aggregate_key: Option<&'a str>,
}

/// Ok when the sender is the owner or delegated for this action; PERMISSION_DENIED otherwise.
/// The owner's `security` aggregate is read through the batch's cache when one is given.
pub(crate) async fn authorize(
    conn: &mut Conn,
    staged: Option<&mut Staged>,
    action: &Action<'_>,
) -> Result<(), ApplyError> {
    if action.sender.same_as(action.owner) {
        return Ok(());
    }
    // Delegates never rewrite the delegations themselves: that would let a narrow grant
    // escalate to a full one.
    if action.message_type == MessageType::Aggregate && action.aggregate_key == Some(SECURITY_KEY) {
        return Err(denied(action).into());
    }
    let owner = action.owner.as_str();
    let security = match staged {
        Some(staged) => staged.aggregate(conn, owner, SECURITY_KEY).await?,
        None => ops::aggregate(conn, owner, SECURITY_KEY).await?,
    };
    let Some(security) = security else {
        return Err(denied(action).into());
    };
    let value: Value = serde_json::from_str(&security.content).unwrap_or(Value::Null);
    let grants = value.get("authorizations").and_then(Value::as_array);
    if grants.is_some_and(|grants| grants.iter().any(|g| grant_allows(g, action))) {
        Ok(())
    } else {
        Err(denied(action).into())
    }
}

fn denied(action: &Action<'_>) -> ProcessingError {
    ProcessingError::new(
        ErrorCode::PermissionDenied,
        format!(
            "{} is not allowed to act for {}",
            action.sender, action.owner
        ),
    )
}

/// One `authorizations` entry: the address matches and every present filter matches.
fn grant_allows(grant: &Value, action: &Action<'_>) -> bool {
    let Some(address) = grant.get("address").and_then(Value::as_str) else {
        return false;
    };
    if !Address::new(address).same_as(action.sender) {
        return false;
    }
    if let Some(chain) = grant.get("chain").and_then(Value::as_str)
        && chain != action.chain.as_str()
    {
        return false;
    }
    list_allows(grant.get("channels"), action.channel)
        && list_allows(grant.get("types"), Some(action.message_type.as_str()))
        && (action.message_type != MessageType::Post
            || list_allows(grant.get("post_types"), action.post_type))
        && (action.message_type != MessageType::Aggregate
            || list_allows(grant.get("aggregate_keys"), action.aggregate_key))
}

/// An absent or empty list allows anything; otherwise the value must be in it.
fn list_allows(list: Option<&Value>, value: Option<&str>) -> bool {
    match list.and_then(Value::as_array) {
        None => true,
        Some(items) if items.is_empty() => true,
        Some(items) => value.is_some_and(|v| items.iter().any(|i| i.as_str() == Some(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action<'a>(sender: &'a Address, owner: &'a Address) -> Action<'a> {
        Action {
            sender,
            owner,
            chain: Chain::ETH,
            channel: Some("TEST"),
            message_type: MessageType::Post,
            post_type: Some("note"),
            aggregate_key: None,
        }
    }

    #[test]
    fn filters_narrow_a_grant() {
        let sender = Address::new("0xAbC0000000000000000000000000000000000001");
        let owner = Address::new("0x0000000000000000000000000000000000000002");
        let a = action(&sender, &owner);
        let lower = sender.as_str().to_lowercase();
        assert!(grant_allows(&json!({"address": lower}), &a));
        assert!(grant_allows(
            &json!({"address": lower, "types": [], "channels": ["TEST"]}),
            &a
        ));
        assert!(!grant_allows(
            &json!({"address": lower, "channels": ["OTHER"]}),
            &a
        ));
        assert!(!grant_allows(
            &json!({"address": lower, "types": ["AGGREGATE"]}),
            &a
        ));
        assert!(!grant_allows(
            &json!({"address": lower, "post_types": ["blog"]}),
            &a
        ));
        assert!(!grant_allows(
            &json!({"address": lower, "chain": "SOL"}),
            &a
        ));
        assert!(!grant_allows(
            &json!({"address": "0x0000000000000000000000000000000000000003"}),
            &a
        ));
        assert!(!grant_allows(&json!({"types": ["POST"]}), &a));
        // aggregate_keys does not restrict a POST.
        assert!(grant_allows(
            &json!({"address": lower, "aggregate_keys": ["profile"]}),
            &a
        ));
    }
}
