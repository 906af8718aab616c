//! Change notifications over Redis pub/sub, with reconnection.

use async_trait::async_trait;
use domain::ports::{ChangeEvent, ChangeSubscription};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::broadcast;

const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Listens on `channel` for as long as anyone may subscribe, forwarding
/// events; after a lost connection it reconnects and announces a full reload,
/// since changes may have been missed meanwhile.
pub(crate) fn spawn_listener(
    client: redis::Client,
    channel: String,
    sender: broadcast::Sender<ChangeEvent>,
) {
    tokio::spawn(async move {
        let mut connected_before = false;
        loop {
            match listen(&client, &channel, &sender, connected_before).await {
                Ok(()) => {}
                Err(error) if connected_before => {
                    tracing::warn!(%error, "lost the Redis change channel; reconnecting");
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot subscribe to the Redis change channel; retrying")
                }
            }
            connected_before = true;
            if closed(&sender) {
                return;
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    });
}

/// The cache is gone when no receiver can ever be created again; a sender
/// clone lives in the cache, so two strong senders mean the cache is alive.
fn closed(sender: &broadcast::Sender<ChangeEvent>) -> bool {
    sender.strong_count() <= 1
}

async fn listen(
    client: &redis::Client,
    channel: &str,
    sender: &broadcast::Sender<ChangeEvent>,
    reconnected: bool,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    if reconnected {
        tracing::info!("Redis change channel restored");
        let _ = sender.send(ChangeEvent::Configs);
    }
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload().unwrap_or_default();
        let _ = sender.send(ChangeEvent::decode(&payload));
    }
    Ok(())
}

/// One reader of the broadcast.
pub(crate) struct Subscription {
    receiver: broadcast::Receiver<ChangeEvent>,
}

impl Subscription {
    pub(crate) fn new(receiver: broadcast::Receiver<ChangeEvent>) -> Self {
        Self { receiver }
    }
}

#[async_trait]
impl ChangeSubscription for Subscription {
    async fn next(&mut self) -> Option<ChangeEvent> {
        match self.receiver.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(ChangeEvent::Configs),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}
