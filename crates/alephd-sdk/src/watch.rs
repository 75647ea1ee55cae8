//! `GET /api/ws0/messages`: recent matching messages, then every newly processed one, as a
//! stream of API message objects.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use crate::{AlephClient, SdkError};

/// An open watch. Ends when the node closes it.
pub struct MessageWatch {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    url: String,
}

impl std::fmt::Debug for MessageWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWatch")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AlephClient {
    /// Opens the message websocket with `messages.json` filters plus `history` (how many
    /// recent matching messages come first, < 200).
    pub async fn watch(&self, query: &[(&str, String)]) -> Result<MessageWatch, SdkError> {
        let mut url = self.url("/api/ws0/messages")?;
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| SdkError::InvalidUrl {
            url: url.to_string(),
            reason: "cannot make a websocket URL".into(),
        })?;
        let text = url.to_string();
        let (socket, _) = tokio_tungstenite::connect_async(text.as_str())
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Io(_) => SdkError::WebSocket {
                    url: text.clone(),
                    reason: format!("node unreachable at {}: {e}", self.base_url()),
                },
                other => SdkError::WebSocket {
                    url: text.clone(),
                    reason: other.to_string(),
                },
            })?;
        Ok(MessageWatch { socket, url: text })
    }
}

impl MessageWatch {
    /// The next message; `None` when the node closed the socket.
    pub async fn next(&mut self) -> Option<Result<Value, SdkError>> {
        loop {
            let frame = match self.socket.next().await? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(self.error(e.to_string()))),
            };
            match frame {
                Message::Text(text) => {
                    return Some(
                        serde_json::from_str(text.as_str())
                            .map_err(|e| self.error(format!("not a JSON message: {e}"))),
                    );
                }
                Message::Ping(payload) => {
                    if let Err(e) = self.socket.send(Message::Pong(payload)).await {
                        return Some(Err(self.error(e.to_string())));
                    }
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Tells the node to stop, then closes.
    pub async fn close(mut self) {
        let _ = self.socket.send(Message::Text("close cmd".into())).await;
        let _ = self.socket.close(None).await;
    }

    fn error(&self, reason: String) -> SdkError {
        SdkError::WebSocket {
            url: self.url.clone(),
            reason,
        }
    }
}
