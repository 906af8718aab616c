//! Change notifications over Redis pub/sub, with reconnection.

use async_trait::async_trait;
use domain::ports::{ChangeEvent, ChangeSubscription};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::broadcast;

const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// While the channel is down, subscribers are told to reload (from the
/// database) this often: the polling fallback.
const POLL_EVERY_ATTEMPTS: u32 = 5;

/// Listens on `channel` while the cache lives, forwarding events. After a
/// lost connection it reconnects every second, asking subscribers to reload
/// every few seconds meanwhile, and once more when the channel is back (changes
/// may have been missed). One warning per outage, not one per attempt.
pub(crate) fn spawn_listener(
    client: redis::Client,
    channel: String,
    sender: broadcast::Sender<ChangeEvent>,
) {
    tokio::spawn(async move {
        let mut outage_attempts: Option<u32> = None;
        loop {
            let error = listen(&client, &channel, &sender, &mut outage_attempts).await;
            if closed(&sender) {
                return;
            }
            match outage_attempts.as_mut() {
                None => {
                    tracing::warn!(%error, "Redis change channel unavailable; polling the database for changes until it returns");
                    outage_attempts = Some(1);
                }
                Some(attempts) => {
                    tracing::debug!(%error, "Redis change channel still unavailable");
                    *attempts += 1;
                    if *attempts % POLL_EVERY_ATTEMPTS == 0 {
                        let _ = sender.send(ChangeEvent::Configs);
                    }
                }
            }
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    });
}

/// The cache is gone when only this task still holds a sender.
fn closed(sender: &broadcast::Sender<ChangeEvent>) -> bool {
    sender.strong_count() <= 1
}

/// Subscribes and forwards messages until the connection fails; returns why.
async fn listen(
    client: &redis::Client,
    channel: &str,
    sender: &broadcast::Sender<ChangeEvent>,
    outage_attempts: &mut Option<u32>,
) -> redis::RedisError {
    let mut pubsub = match client.get_async_pubsub().await {
        Ok(pubsub) => pubsub,
        Err(e) => return e,
    };
    if let Err(e) = pubsub.subscribe(channel).await {
        return e;
    }
    if outage_attempts.take().is_some() {
        tracing::info!("Redis change channel restored");
        let _ = sender.send(ChangeEvent::Configs);
    }
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let payload: String = message.get_payload().unwrap_or_default();
        let _ = sender.send(ChangeEvent::decode(&payload));
    }
    redis::RedisError::from((redis::ErrorKind::Io, "the change channel closed"))
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
