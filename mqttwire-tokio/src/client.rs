//! The client: a background task runs the drive loop of the sans-IO engine
//! ([`mqttwire::client::Client`]) over a [`Transport`]; a cloneable [`ClientHandle`] sends it
//! commands and [`Events`] carries what the engine reports.
//!
//! The task owns the engine, the connection and the clock (see [`Clock`]). It waits on
//! three things at once: bytes from the connection, the engine's next deadline and a
//! command; after every engine call it writes what the engine has to send, carries out its
//! actions (open, close), answers the commands waiting for an acknowledgement and forwards
//! every event to [`Events`].

use std::collections::HashMap;
use std::future::pending;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use mqttwire::client::{Action, Client, ClientError, ClientOptions, Event, Handle, PublishError};
use mqttwire::{Properties, Publish, ReasonCode, Subscription, TopicFilter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

use crate::endpoint::Endpoint;
use crate::transport::{Transport, TransportOptions};

/// How long closing a connection may take (TLS close, WebSocket close frame).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts a client on the current tokio runtime with the default [`TransportOptions`]; see
/// [`spawn_with`].
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn spawn(endpoint: Endpoint, options: ClientOptions) -> (ClientHandle, Events) {
    spawn_with(endpoint, options, TransportOptions::default())
}

/// Starts a client on the current tokio runtime: spawns its task, which connects at once
/// and keeps a connection to `endpoint` up as the engine asks (reconnecting per
/// [`ClientOptions::reconnect`]). A connection attempt that fails or passes
/// [`TransportOptions::connect_timeout`] counts as lost, and the engine schedules the next.
///
/// Returns the handle for commands, which can be cloned, and the stream of the engine's
/// events. When the last handle is dropped the task is aborted and the connection dropped
/// without a DISCONNECT: call [`ClientHandle::disconnect`] first for a clean end. Dropping
/// [`Events`] is fine: the client goes on and events are discarded.
///
/// # Panics
///
/// Outside a tokio runtime.
pub fn spawn_with(
    endpoint: Endpoint,
    options: ClientOptions,
    transport: TransportOptions,
) -> (ClientHandle, Events) {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    let driver = Driver {
        client: Client::new(options),
        endpoint,
        transport_options: transport,
        clock: Clock::start(),
        transport: None,
        waiting: HashMap::new(),
        events: event_tx,
    };
    let task = tokio::spawn(driver.run(command_rx));
    let handle = ClientHandle {
        commands,
        _task: Arc::new(AbortOnDrop(task)),
    };
    (handle, Events { rx: events })
}

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine refused the command (queue full, invalid packet, QoS above the server's
    /// maximum, ...); nothing was sent. Fix the command or retry later.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The publish was accepted but cannot be delivered: the server refused it, the session
    /// holding it ended, or the client was stopped.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The subscribe or unsubscribe was accepted but the client was stopped before the
    /// server answered.
    #[error("the client was stopped before the server answered")]
    RequestFailed,
    /// The client's task has ended (the runtime shut down, or it panicked); the handle is
    /// useless.
    #[error("the client task has ended")]
    Stopped,
}

/// Why [`Events::wait_for`] returned without a matching event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// No matching event arrived in time.
    #[error("no matching event within {0:?}")]
    Timeout(Duration),
    /// The client's task is gone; no event will come.
    #[error("the client task has ended")]
    Closed,
}

/// Commands to one client; clone it to command the client from several tasks.
///
/// [`publish`](ClientHandle::publish), [`subscribe`](ClientHandle::subscribe) and
/// [`unsubscribe`](ClientHandle::unsubscribe) return when the server acknowledged (or, at
/// QoS 0, when the message was written). The `start_*` forms return as soon as the engine
/// took the command, with a [`Handle`] that the outcome event in [`Events`] carries: use
/// them to keep many requests in flight from one task. Either way every event also goes to
/// [`Events`].
#[derive(Debug, Clone)]
pub struct ClientHandle {
    commands: mpsc::UnboundedSender<Command>,
    _task: Arc<AbortOnDrop>,
}

impl ClientHandle {
    /// Publishes a message and waits until it is complete: written (QoS 0), PUBACK (QoS 1)
    /// or PUBCOMP (QoS 2). Returns the server's reason code (5.0; Success on 3.1.1). While
    /// offline the message waits in the engine's queue for the next connection (at QoS 0
    /// as [`ClientOptions::offline_qos0`] says). Dropping the future does not withdraw the
    /// message; it only stops the waiting.
    pub async fn publish(&self, publish: Publish) -> Result<ReasonCode, Error> {
        self.request(|ack| Command::Publish(publish, Reply::Acked(Waiter::Publish(ack))))
            .await?
    }

    /// Subscribes and waits for the SUBACK; returns its reason codes, one per
    /// subscription: the granted QoS, or an error code for a refused filter.
    pub async fn subscribe(
        &self,
        subscriptions: Vec<Subscription>,
        properties: Properties,
    ) -> Result<Vec<ReasonCode>, Error> {
        self.request(|ack| {
            Command::Subscribe(
                subscriptions,
                properties,
                Reply::Acked(Waiter::Request(ack)),
            )
        })
        .await?
    }

    /// Unsubscribes and waits for the UNSUBACK; returns its reason codes (one per filter on
    /// 5.0, none on 3.1.1).
    pub async fn unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: Properties,
    ) -> Result<Vec<ReasonCode>, Error> {
        self.request(|ack| {
            Command::Unsubscribe(filters, properties, Reply::Acked(Waiter::Request(ack)))
        })
        .await?
    }

    /// Starts a publish ([`Client::publish`]) and returns once the engine took it; the
    /// outcome comes as [`Event::PublishComplete`] or [`Event::PublishFailed`] with the
    /// returned handle.
    pub async fn start_publish(&self, publish: Publish) -> Result<Handle, Error> {
        Ok(self
            .request(|reply| Command::Publish(publish, Reply::Queued(reply)))
            .await??)
    }

    /// Starts a subscribe ([`Client::subscribe`]); the SUBACK comes as
    /// [`Event::Subscribed`] with the returned handle.
    pub async fn start_subscribe(
        &self,
        subscriptions: Vec<Subscription>,
        properties: Properties,
    ) -> Result<Handle, Error> {
        Ok(self
            .request(|reply| Command::Subscribe(subscriptions, properties, Reply::Queued(reply)))
            .await??)
    }

    /// Starts an unsubscribe ([`Client::unsubscribe`]); the UNSUBACK comes as
    /// [`Event::Unsubscribed`] with the returned handle.
    pub async fn start_unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: Properties,
    ) -> Result<Handle, Error> {
        Ok(self
            .request(|reply| Command::Unsubscribe(filters, properties, Reply::Queued(reply)))
            .await??)
    }

    /// Stops the client ([`Client::disconnect`]): returns once the DISCONNECT (if
    /// connected) is written and the connection closed. Publishes still queued fail with
    /// [`PublishError::Stopped`]. The task stays, idle, until the last handle is dropped.
    pub async fn disconnect(&self, reason_code: ReasonCode) -> Result<(), Error> {
        self.request(|reply| Command::Disconnect(reason_code, reply))
            .await
    }

    /// Simulates a network failure, to test how an application copes: drops the current
    /// connection without a DISCONNECT or a WebSocket close frame, then tells the engine
    /// the connection was lost, as on a read error. The engine reconnects as its options
    /// say.
    ///
    /// Returns false, and does nothing, when there was no connection (the client was
    /// waiting to reconnect, or stopped).
    pub async fn cut(&self) -> Result<bool, Error> {
        self.request(Command::Cut).await
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)
    }
}

/// The events of one client, in the order the engine produced them; also a [`Stream`].
///
/// The queue is unbounded: a program that keeps `Events` should read it, or drop it.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event; `None` once the client's task is gone.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is already there.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Waits up to `within` for the next event for which `matches` is true. Events
    /// before it are consumed and dropped.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut matches: impl FnMut(&Event) -> bool,
    ) -> Result<Event, WaitError> {
        self.wait_map(within, |event| matches(&event).then_some(event))
            .await
    }

    /// Waits up to `within` for the next event that `pick` maps to `Some`, and returns
    /// that. Events before it are consumed and dropped.
    pub async fn wait_map<T>(
        &mut self,
        within: Duration,
        mut pick: impl FnMut(Event) -> Option<T>,
    ) -> Result<T, WaitError> {
        let wait = async {
            while let Some(event) = self.rx.recv().await {
                if let Some(picked) = pick(event) {
                    return Ok(picked);
                }
            }
            Err(WaitError::Closed)
        };
        timeout(within, wait)
            .await
            .map_err(|_| WaitError::Timeout(within))?
    }

    /// Waits up to `within` for [`Event::Connected`] and returns its `session_present`.
    pub async fn connected(&mut self, within: Duration) -> Result<bool, WaitError> {
        self.wait_map(within, |event| match event {
            Event::Connected {
                session_present, ..
            } => Some(session_present),
            _ => None,
        })
        .await
    }

    /// Waits up to `within` for the next [`Event::Message`] whose topic is `topic`.
    pub async fn message_on(
        &mut self,
        within: Duration,
        topic: &str,
    ) -> Result<Publish, WaitError> {
        self.wait_map(within, |event| match event {
            Event::Message(publish) if publish.topic.as_str() == topic => Some(publish),
            _ => None,
        })
        .await
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

// ---- the task ----

/// Aborts the client's task when the last [`ClientHandle`] goes.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How a command is answered: as soon as the engine took it, or once it is acknowledged.
#[derive(Debug)]
enum Reply {
    Queued(oneshot::Sender<Result<Handle, ClientError>>),
    Acked(Waiter),
}

/// A command waiting for its acknowledgement.
#[derive(Debug)]
enum Waiter {
    /// A publish, answered with the server's reason code.
    Publish(oneshot::Sender<Result<ReasonCode, Error>>),
    /// A subscribe or unsubscribe, answered with the SUBACK's or UNSUBACK's codes.
    Request(oneshot::Sender<Result<Vec<ReasonCode>, Error>>),
}

impl Waiter {
    /// Answers with `error`.
    fn fail(self, error: Error) {
        match self {
            Waiter::Publish(tx) => drop(tx.send(Err(error))),
            Waiter::Request(tx) => drop(tx.send(Err(error))),
        }
    }

    /// Answers with the outcome `event` reports (an event of this waiter's handle).
    fn settle(self, event: &Event) {
        match (self, event) {
            (Waiter::Publish(tx), Event::PublishComplete { reason_code, .. }) => {
                let _ = tx.send(Ok(*reason_code));
            }
            (Waiter::Publish(tx), Event::PublishFailed { error, .. }) => {
                let _ = tx.send(Err(error.clone().into()));
            }
            (
                Waiter::Request(tx),
                Event::Subscribed { reason_codes, .. } | Event::Unsubscribed { reason_codes, .. },
            ) => {
                let _ = tx.send(Ok(reason_codes.clone()));
            }
            (waiter, _) => waiter.fail(Error::RequestFailed),
        }
    }
}

/// The command an event reports the outcome of.
fn outcome_of(event: &Event) -> Option<Handle> {
    match event {
        Event::PublishComplete { handle, .. }
        | Event::PublishFailed { handle, .. }
        | Event::Subscribed {
            handle: Some(handle),
            ..
        }
        | Event::Unsubscribed { handle, .. }
        | Event::RequestFailed { handle } => Some(*handle),
        _ => None,
    }
}

#[derive(Debug)]
enum Command {
    Publish(Publish, Reply),
    Subscribe(Vec<Subscription>, Properties, Reply),
    Unsubscribe(Vec<TopicFilter>, Properties, Reply),
    Disconnect(ReasonCode, oneshot::Sender<()>),
    Cut(oneshot::Sender<bool>),
}

/// The task's clock, the one place where tokio's time meets the engine's: the engine
/// counts milliseconds since the task started.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Now, in the engine's time: the time since the task started.
    fn now(self) -> mqttwire::Instant {
        mqttwire::Instant::ORIGIN + self.origin.elapsed()
    }

    /// An engine deadline as a tokio instant.
    fn instant(self, at: mqttwire::Instant) -> Instant {
        self.origin + at.saturating_duration_since(mqttwire::Instant::ORIGIN)
    }
}

/// The engine with its connection and clock: lives in the client's task.
struct Driver {
    client: Client,
    endpoint: Endpoint,
    transport_options: TransportOptions,
    clock: Clock,
    transport: Option<Transport>,
    /// Commands waiting for their acknowledgement, by handle.
    waiting: HashMap<Handle, Waiter>,
    events: mpsc::UnboundedSender<Event>,
}

impl Driver {
    /// The drive loop; ends when the last handle is dropped (the command channel closes).
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        if self.client.connect(self.clock.now()).is_err() {
            return; // unreachable: a new client is idle
        }
        self.drain().await;
        loop {
            let deadline = self.client.poll_timeout().map(|at| self.clock.instant(at));
            tokio::select! {
                read = recv(&mut self.transport) => {
                    let now = self.clock.now();
                    match read {
                        Some(bytes) => self.client.handle_bytes_owned(now, bytes),
                        None => {
                            self.transport = None;
                            self.client.handle_connection_lost(now);
                        }
                    }
                }
                () = sleep_until_some(deadline) => self.client.handle_timeout(self.clock.now()),
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    None => return,
                },
            }
            self.drain().await;
        }
    }

    async fn command(&mut self, command: Command) {
        let now = self.clock.now();
        match command {
            Command::Publish(publish, reply) => {
                let taken = self.client.publish(now, publish);
                self.answer(taken, reply);
            }
            Command::Subscribe(subscriptions, properties, reply) => {
                let taken = self.client.subscribe(now, subscriptions, properties);
                self.answer(taken, reply);
            }
            Command::Unsubscribe(filters, properties, reply) => {
                let taken = self.client.unsubscribe(now, filters, properties);
                self.answer(taken, reply);
            }
            Command::Disconnect(reason_code, reply) => {
                self.client.disconnect(now, reason_code, Properties::new());
                self.drain().await;
                let _ = reply.send(());
            }
            Command::Cut(reply) => {
                // Dropped, not closed: no DISCONNECT, no close frame, unread bytes lost.
                let cut = self.transport.take().is_some();
                if cut {
                    self.client.handle_connection_lost(now);
                }
                let _ = reply.send(cut);
            }
        }
    }

    /// Answers a command the engine took or refused; an acknowledged one waits for its
    /// outcome event.
    fn answer(&mut self, taken: Result<Handle, ClientError>, reply: Reply) {
        match (reply, taken) {
            (Reply::Queued(reply), taken) => {
                let _ = reply.send(taken);
            }
            (Reply::Acked(waiter), Ok(handle)) => {
                self.waiting.insert(handle, waiter);
            }
            (Reply::Acked(waiter), Err(error)) => waiter.fail(error.into()),
        }
    }

    /// Drains the engine after a call: writes, then actions (which may produce more to
    /// write), then events, until it has nothing left.
    async fn drain(&mut self) {
        loop {
            while let Some(bytes) = self.client.poll_transmit() {
                self.write(bytes).await;
            }
            if let Some(action) = self.client.poll_action() {
                match action {
                    Action::Open { .. } => self.open().await,
                    Action::Close => self.close().await,
                    _ => {}
                }
                continue;
            }
            while let Some(event) = self.client.poll_event() {
                if let Some(waiter) = outcome_of(&event).and_then(|h| self.waiting.remove(&h)) {
                    waiter.settle(&event);
                }
                // The application may have stopped listening; the engine goes on.
                let _ = self.events.send(event);
            }
            return;
        }
    }

    async fn write(&mut self, bytes: Bytes) {
        let Some(transport) = &mut self.transport else {
            return; // nothing to write on: the engine counts the connection as gone
        };
        if transport.send(bytes).await.is_err() {
            self.transport = None;
            self.client.handle_connection_lost(self.clock.now());
        }
    }

    async fn open(&mut self) {
        self.transport = None;
        match Transport::connect(&self.endpoint, &self.transport_options).await {
            Ok(transport) => {
                self.transport = Some(transport);
                self.client.handle_connection_opened(self.clock.now());
            }
            Err(_) => self.client.handle_connection_lost(self.clock.now()),
        }
    }

    async fn close(&mut self) {
        if let Some(transport) = self.transport.take() {
            let _ = timeout(CLOSE_TIMEOUT, transport.close()).await;
        }
    }
}

/// Reads from the connection if there is one; never completes otherwise. `None` when the
/// connection ended or broke: the driver treats both as a lost connection.
async fn recv(transport: &mut Option<Transport>) -> Option<Bytes> {
    match transport {
        Some(transport) => transport.recv().await.ok().flatten(),
        None => pending().await,
    }
}

/// Sleeps until `deadline`; never completes without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_converts_engine_deadlines_to_instants_and_back() {
        let clock = Clock {
            origin: Instant::now(),
        };
        let at = clock.instant(mqttwire::Instant::from_millis(1_500));
        assert_eq!(
            at.duration_since(clock.origin),
            Duration::from_millis(1_500)
        );
        assert!(clock.now() < mqttwire::Instant::from_millis(1_500));
    }

    #[test]
    fn waiters_get_the_outcome_their_event_reports() {
        let (tx, mut rx) = oneshot::channel();
        Waiter::Publish(tx).settle(&Event::PublishFailed {
            handle: Handle(1),
            error: PublishError::Refused(ReasonCode(0x87)),
        });
        assert_eq!(
            rx.try_recv().ok(),
            Some(Err(Error::Publish(PublishError::Refused(ReasonCode(0x87)))))
        );
        let (tx, mut rx) = oneshot::channel();
        let codes = vec![ReasonCode::GRANTED_QOS_1, ReasonCode(0x80)];
        Waiter::Request(tx).settle(&Event::Subscribed {
            handle: Some(Handle(2)),
            reason_codes: codes.clone(),
        });
        assert_eq!(rx.try_recv().ok(), Some(Ok(codes)));
        let (tx, mut rx) = oneshot::channel();
        Waiter::Request(tx).settle(&Event::RequestFailed { handle: Handle(3) });
        assert_eq!(rx.try_recv().ok(), Some(Err(Error::RequestFailed)));
    }

    #[test]
    fn only_outcome_events_name_a_command() {
        assert_eq!(
            outcome_of(&Event::Unsubscribed {
                handle: Handle(4),
                reason_codes: vec![],
            }),
            Some(Handle(4))
        );
        assert_eq!(
            outcome_of(&Event::Subscribed {
                handle: None,
                reason_codes: vec![],
            }),
            None
        );
        assert_eq!(outcome_of(&Event::ReconnectGaveUp), None);
    }
}
