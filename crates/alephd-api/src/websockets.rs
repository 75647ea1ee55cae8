//! `GET /api/ws0/messages`: the message filters of `messages.json` plus `history` (default
//! 10, < 200). Sends the most recent matching messages, then every newly processed matching
//! message, one JSON text frame each. A text frame `close cmd` (or a close frame) ends it.

use alephd_db::{MessageFilter, MessageRecord, ops};
use axum::{
    Router,
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
    routing::get,
};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::{
    ApiState,
    core::{ApiError, CoreApi, MessageView, Params, confirmations},
    messages::message_filter,
};

const MAX_HISTORY: i64 = 199;

pub(crate) fn routes() -> Router<ApiState> {
    Router::new().route("/api/ws0/messages", get(upgrade))
}

async fn upgrade(
    State(state): State<ApiState>,
    Query(q): Query<Vec<(String, String)>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let core = state.core()?.clone();
    let params = Params::new(q);
    let filter = message_filter(&params)?;
    let history = params.int(&["history"])?.unwrap_or(10);
    if !(0..=MAX_HISTORY).contains(&history) {
        return Err(ApiError::Unprocessable(
            "history must be between 0 and 199".into(),
        ));
    }
    Ok(ws.on_upgrade(move |socket| serve(socket, core, filter, history)))
}

async fn serve(mut socket: WebSocket, core: CoreApi, filter: MessageFilter, history: i64) {
    // Subscribe first so nothing processed during the history query is missed.
    let mut events = core.processor.subscribe();
    if let Err(e) = send_history(&mut socket, &core, &filter, history).await {
        tracing::debug!(error = %e, "websocket history failed");
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    let Some(record) = event.message else { continue };
                    if !matches(&filter, &record) {
                        continue;
                    }
                    let Ok(text) = render(&core, &record).await else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(skipped)) => tracing::debug!(skipped, "websocket subscriber lagged"),
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) if t.as_str() == "close cmd" => return,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send_history(
    socket: &mut WebSocket,
    core: &CoreApi,
    filter: &MessageFilter,
    history: i64,
) -> Result<(), String> {
    if history == 0 {
        return Ok(());
    }
    let rows = {
        let mut conn = core.read().await.map_err(|e| e.to_string())?;
        ops::find_messages(&mut conn, filter, history, 1, None)
            .await
            .map_err(|e| e.to_string())?
    };
    for record in rows.iter().rev() {
        let text = render(core, record).await.map_err(|e| e.to_string())?;
        socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn render(core: &CoreApi, record: &MessageRecord) -> Result<String, ApiError> {
    let mut conn = core.read().await?;
    let view = MessageView::new(record, confirmations(&mut conn, &record.item_hash).await?);
    serde_json::to_string(&view).map_err(|_| ApiError::Internal)
}

/// The database filter, applied to one new message in memory.
pub(crate) fn matches(f: &MessageFilter, m: &MessageRecord) -> bool {
    let within = |list: &[String], value: Option<&str>| {
        list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
    };
    within(&f.hashes, Some(&m.item_hash))
        && within(&f.addresses, Some(&m.sender))
        && within(&f.owners, Some(&m.owner))
        && within(&f.refs, m.content_ref.as_deref())
        && within(&f.content_hashes, m.content_item_hash.as_deref())
        && within(&f.content_keys, m.content_key.as_deref())
        && within(&f.content_types, m.content_type.as_deref())
        && within(&f.chains, Some(&m.chain))
        && within(&f.channels, m.channel.as_deref())
        && within(&f.message_types, Some(&m.message_type))
        && within(&f.payment_types, m.payment_type.as_deref())
        && f.start_date.is_none_or(|s| m.time >= s)
        && f.end_date.is_none_or(|e| m.time < e)
        && (f.tags.is_empty() || tags(m).iter().any(|t| f.tags.contains(t)))
}

fn tags(m: &MessageRecord) -> Vec<String> {
    serde_json::from_str::<Value>(&m.content)
        .ok()
        .and_then(|c| {
            c.pointer("/content/tags")
                .and_then(Value::as_array)
                .cloned()
        })
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
