//! The sans-IO MQTT client engine: one state machine for MQTT 3.1.1 and 5.0 that never
//! touches a socket, a clock or a random source. See [`Client`] for the drive loop.

mod backoff;
mod connection;
mod dispatch;
mod event;
mod options;
mod persist;
mod store;
mod tables;
mod timer;

pub use backoff::ReconnectOptions;
pub use dispatch::Router;
pub use event::{
    Action, ClientError, DisconnectedBy, Event, Handle, ProtocolViolation, PublishError,
};
pub use options::{ClientOptions, OfflineQos0};
pub use store::{InFlight, InFlightState, InFlightStore, MemoryStore};

use std::collections::VecDeque;
use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::decoder::MAX_PACKET_SIZE;
use crate::error::DecodeError;
use crate::packet::{
    Ack, Auth, Body, ConnAck, Connect, Disconnect, Packet, PingReq, Publish, SubAck, Subscribe,
    Subscription, UnsubAck, Unsubscribe, encode, encoded_len,
};
use crate::property::{Properties, Property};
use crate::reason::ReasonCode;
use crate::time::{Duration, Instant, millis};
use crate::topic::{TopicFilter, TopicName};
use crate::types::{PacketId, PacketType, ProtocolVersion, QoS};
use backoff::Backoff;
use connection::{Connection, Request, Session};
use timer::{Timer, TimerTable};

/// An MQTT client as a state machine. The caller owns the transport and the clock.
///
/// # The drive loop
///
/// Time is the caller's: every call takes `now`, an [`Instant`] on the caller's monotonic
/// clock from any fixed origin. Commands
/// ([`connect`](Client::connect), [`publish`](Client::publish),
/// [`subscribe`](Client::subscribe), [`unsubscribe`](Client::unsubscribe),
/// [`disconnect`](Client::disconnect), [`reconnect`](Client::reconnect)) and inputs
/// ([`handle_connection_opened`](Client::handle_connection_opened),
/// [`handle_bytes`](Client::handle_bytes),
/// [`handle_connection_lost`](Client::handle_connection_lost),
/// [`handle_timeout`](Client::handle_timeout)) go in. After **every** call:
///
/// 1. send every [`poll_transmit`](Client::poll_transmit) on the connection, in order;
/// 2. carry out every [`poll_action`](Client::poll_action): [`Action::Open`] opens a new
///    connection, [`Action::Close`] closes the current one (after sending what was polled);
/// 3. hand every [`poll_event`](Client::poll_event) to the application;
/// 4. sleep until [`poll_timeout`](Client::poll_timeout) (or until bytes, a closed
///    connection or a command arrive), then call `handle_timeout(now)`. Calling it early
///    or twice is harmless.
///
/// ```
/// use mqttwire::client::{Action, Client, ClientOptions, Event};
/// use mqttwire::{Duration, Instant, ProtocolVersion};
///
/// let ms = Instant::from_millis;
/// let mut client = Client::new(ClientOptions::new(ProtocolVersion::V5, "sensor-1"));
/// client.connect(ms(0))?;
/// assert_eq!(client.poll_action(), Some(Action::Open { attempt: 0 }));
/// client.handle_connection_opened(ms(5)); // the transport is up
/// let connect = client.poll_transmit().expect("CONNECT");
/// assert_eq!(connect[0], 0x10);
/// client.handle_bytes(ms(9), &[0x20, 0x03, 0x00, 0x00, 0x00]); // CONNACK from the server
/// assert!(matches!(client.poll_event(), Some(Event::Connected { .. })));
/// assert_eq!(client.poll_timeout(), Some(ms(5) + Duration::from_secs(60))); // keep alive
/// # Ok::<(), mqttwire::client::ClientError>(())
/// ```
#[derive(Debug)]
pub struct Client<S: InFlightStore = MemoryStore> {
    options: ClientOptions,
    state: State,
    /// The open connection: `Some` exactly while awaiting CONNACK or connected. Dropping
    /// it forgets everything that lives only as long as one connection.
    conn: Option<Connection>,
    /// The session's state on the client's side, replaced when the server has none.
    session: Session,
    /// Bytes for the driver to send.
    out: BytesMut,
    events: VecDeque<Event>,
    actions: VecDeque<Action>,
    /// Every deadline: the connection's (CONNACK, keep alive, PINGRESP), stopped with it,
    /// and the reconnect.
    timers: TimerTable,
    backoff: Option<Backoff>,
    store: S,
    /// Commands not sent yet: offline, or held back by the server's receive maximum.
    queue: VecDeque<Command>,
    /// Their encoded size, which [`ClientOptions::max_queued_bytes`] bounds.
    queued_bytes: usize,
    /// Granted subscriptions, for resubscribing; with their subscription identifier.
    subscriptions: Vec<(Subscription, Option<NonZeroU32>)>,
    next_id: PacketId,
    /// The identifier last given to a PUBLISH, SUBSCRIBE or UNSUBSCRIBE.
    last_id: Option<PacketId>,
    next_handle: u64,
    /// The server's limits from the last CONNACK.
    server: ServerLimits,
    connected_before: bool,
    network_paused: bool,
    /// Changes with the state a [`snapshot`](Client::snapshot) holds.
    durable: u64,
}

/// Where the client stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started, or stopped by `disconnect` or by giving up on reconnecting.
    Idle,
    /// Waiting for the driver to open a connection.
    Opening,
    /// CONNECT sent, waiting for CONNACK.
    AwaitingConnAck,
    /// Connected.
    Connected,
    /// Waiting to reconnect (backoff, or the network is down).
    WaitingReconnect,
}

/// Limits the server announced in CONNACK (5.0); the protocol's own on 3.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// QoS 1 and 2 publishes the client may have in flight.
    pub receive_maximum: u16,
    /// Largest packet the server accepts.
    pub maximum_packet_size: u32,
    /// Topic aliases the client may use.
    pub topic_alias_maximum: u16,
    /// Highest QoS the server accepts.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported.
    pub retain_available: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: MAX_PACKET_SIZE,
            topic_alias_maximum: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
        }
    }
}

#[derive(Debug)]
enum Command {
    Publish {
        handle: Handle,
        publish: Publish,
    },
    Subscribe {
        handle: Option<Handle>,
        packet: Subscribe,
    },
    Unsubscribe {
        handle: Handle,
        packet: Unsubscribe,
    },
}

impl Client<MemoryStore> {
    /// A client with an in-memory store of in-flight messages.
    pub fn new(options: ClientOptions) -> Client<MemoryStore> {
        Client::with_store(options, MemoryStore::new())
    }
}

impl<S: InFlightStore> Client<S> {
    /// A client whose outgoing in-flight messages live in `store`. Messages already in it
    /// (from an earlier run) are sent again after the first CONNACK that resumes a session,
    /// or as new publishes without one.
    pub fn with_store(options: ClientOptions, store: S) -> Client<S> {
        let backoff = options.reconnect.clone().map(Backoff::new);
        // New handles follow those of messages restored from a persistent store.
        let next_handle = store
            .ids()
            .into_iter()
            .filter_map(|id| store.get(id))
            .map(|e| e.handle.0)
            .max()
            .unwrap_or(0);
        Client {
            backoff,
            state: State::Idle,
            conn: None,
            session: Session::default(),
            out: BytesMut::new(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            timers: TimerTable::default(),
            store,
            queue: VecDeque::new(),
            queued_bytes: 0,
            subscriptions: Vec::new(),
            next_id: PacketId::MIN,
            last_id: None,
            next_handle,
            server: ServerLimits::default(),
            connected_before: false,
            network_paused: false,
            durable: 0,
            options,
        }
    }

    // ---- commands ----

    /// Starts the client: it asks for a connection ([`Action::Open`]) and keeps one up
    /// until [`disconnect`](Client::disconnect).
    pub fn connect(&mut self, now: Instant) -> Result<(), ClientError> {
        if self.state != State::Idle {
            return Err(ClientError::AlreadyStarted);
        }
        let _ = now; // a connection's clock starts when it opens
        self.open();
        Ok(())
    }

    /// Publishes a message. The engine sets the packet identifier and DUP; `publish.qos`,
    /// `retain`, topic, payload and properties are the caller's. While offline the message
    /// waits in the queue (QoS 0 as [`ClientOptions::offline_qos0`] says). The outcome comes
    /// as [`Event::PublishComplete`] or [`Event::PublishFailed`] with the returned handle.
    pub fn publish(&mut self, now: Instant, mut publish: Publish) -> Result<Handle, ClientError> {
        publish.dup = false;
        publish.packet_id = (publish.qos != QoS::AtMostOnce).then_some(PacketId::MIN);
        let size = encoded_len(&publish, self.options.version)?;
        if self.state == State::Connected {
            self.check_server_limits(&publish, size)?;
        }
        let handle = self.handle();
        if publish.qos == QoS::AtMostOnce
            && self.state != State::Connected
            && self.options.offline_qos0 == OfflineQos0::Drop
        {
            self.events.push_back(Event::PublishFailed {
                handle,
                error: PublishError::DroppedOffline,
            });
            return Ok(handle);
        }
        let durable = publish.qos != QoS::AtMostOnce;
        self.enqueue(now, size, Command::Publish { handle, publish })?;
        self.durable += u64::from(durable);
        Ok(handle)
    }

    /// Subscribes to one or more filters; the result comes as [`Event::Subscribed`].
    /// `properties` may carry a subscription identifier and user properties (5.0).
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriptions: Vec<Subscription>,
        properties: Properties,
    ) -> Result<Handle, ClientError> {
        let packet = Subscribe {
            packet_id: PacketId::MIN,
            properties,
            subscriptions,
        };
        let size = encoded_len(&packet, self.options.version)?;
        let handle = self.handle();
        self.enqueue(
            now,
            size,
            Command::Subscribe {
                handle: Some(handle),
                packet,
            },
        )?;
        Ok(handle)
    }

    /// Unsubscribes from one or more filters; the result comes as [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: Vec<TopicFilter>,
        properties: Properties,
    ) -> Result<Handle, ClientError> {
        let packet = Unsubscribe {
            packet_id: PacketId::MIN,
            properties,
            filters,
        };
        let size = encoded_len(&packet, self.options.version)?;
        let handle = self.handle();
        self.enqueue(now, size, Command::Unsubscribe { handle, packet })?;
        Ok(handle)
    }

    /// Stops the client: sends DISCONNECT with `reason_code` (5.0; 0x04 also publishes the
    /// will) if connected, closes the connection and stops reconnecting. Commands still
    /// queued fail; messages in flight stay in the store for a later session.
    pub fn disconnect(&mut self, now: Instant, reason_code: ReasonCode, properties: Properties) {
        if self.state == State::Idle {
            return;
        }
        self.close(now, reason_code, properties);
        self.stop();
    }

    /// Drops the connection and asks for a new one at once ([`Action::Open`]), as MQTT.js's
    /// `reconnect()`: DISCONNECT first if connected (normal, so the server publishes no
    /// will), a waiting reconnect brought forward, a stopped client (after
    /// [`disconnect`](Client::disconnect) or giving up) started again. The backoff starts
    /// over; queued commands wait for the new connection, in-flight messages are resent as
    /// after any reconnect.
    pub fn reconnect(&mut self, now: Instant) {
        self.close(now, ReasonCode::SUCCESS, Properties::new());
        if let Some(backoff) = &mut self.backoff {
            backoff.reset();
        }
        self.open();
    }

    /// Sends AUTH (5.0 enhanced authentication), answering an [`Event::Auth`] or starting
    /// re-authentication.
    pub fn auth(
        &mut self,
        now: Instant,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> Result<(), ClientError> {
        if self.options.version != ProtocolVersion::V5
            || !matches!(self.state, State::AwaitingConnAck | State::Connected)
        {
            return Err(ClientError::AuthUnavailable);
        }
        let packet = Auth {
            reason_code,
            properties,
        };
        encoded_len(&packet, ProtocolVersion::V5)?;
        self.send(now, &packet);
        Ok(())
    }

    /// Replaces the credentials used by the next CONNECT: call it on [`Action::Open`],
    /// before `handle_connection_opened`, to send a fresh token.
    pub fn set_credentials(&mut self, username: Option<ByteString>, password: Option<Bytes>) {
        self.options.username = username;
        self.options.password = password;
    }

    /// Tells the engine whether the network is up (the browser's online/offline events).
    /// While it is down no reconnect is attempted; when it comes back one starts at once.
    pub fn set_network_available(&mut self, now: Instant, available: bool) {
        self.network_paused = !available;
        if self.state == State::WaitingReconnect {
            if available {
                self.timers.set(Timer::Reconnect, now);
            } else {
                self.timers.stop(Timer::Reconnect);
            }
        }
    }

    // ---- inputs ----

    /// The connection asked for by [`Action::Open`] is up: the engine sends CONNECT.
    pub fn handle_connection_opened(&mut self, now: Instant) {
        if self.state != State::Opening {
            return;
        }
        let version = self.options.version;
        self.out.clear();
        let mut connect = Connect::new(version, self.options.client_id.clone());
        // A reconnect resumes the session the first connection made (5.0); on 3.1.1 the
        // clean session flag is the session's lifetime, so it stays as configured.
        connect.clean_start = match version {
            ProtocolVersion::V5 => self.options.clean_start && !self.connected_before,
            ProtocolVersion::V311 => self.options.clean_start,
        };
        connect.keep_alive = self.options.keep_alive;
        connect.will = self.options.will.clone();
        connect.username = self.options.username.clone();
        connect.password = self.options.password.clone();
        if version == ProtocolVersion::V5 {
            let mut properties = self.options.properties.clone();
            let o = &self.options;
            if o.session_expiry > 0 {
                properties.set(Property::SessionExpiryInterval(o.session_expiry));
            }
            if let Some(max) = NonZeroU16::new(o.receive_maximum).filter(|m| m.get() < u16::MAX) {
                properties.set(Property::ReceiveMaximum(max));
            }
            if let Some(max) =
                NonZeroU32::new(o.max_packet_size).filter(|m| m.get() < MAX_PACKET_SIZE)
            {
                properties.set(Property::MaximumPacketSize(max));
            }
            if o.topic_alias_maximum > 0 {
                properties.set(Property::TopicAliasMaximum(o.topic_alias_maximum));
            }
            connect.properties = properties;
        }
        self.state = State::AwaitingConnAck;
        self.conn = Some(Connection::new(&self.options, now));
        self.timers
            .set(Timer::ConnAck, now + self.options.connect_timeout);
        self.send(now, &connect);
    }

    /// Bytes arrived on the connection (copied into the engine's buffer).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        let Some(conn) = &mut self.conn else {
            return;
        };
        conn.decoder.extend(bytes);
        self.drain_decoder(now);
    }

    /// Bytes arrived as a `Bytes` (a WebSocket message, say): decoded without copying.
    pub fn handle_bytes_owned(&mut self, now: Instant, bytes: Bytes) {
        let Some(conn) = &mut self.conn else {
            return;
        };
        conn.decoder.extend_bytes(bytes);
        self.drain_decoder(now);
    }

    /// The connection closed or could not be opened.
    pub fn handle_connection_lost(&mut self, now: Instant) {
        if matches!(
            self.state,
            State::Opening | State::AwaitingConnAck | State::Connected
        ) {
            self.connection_ended(
                now,
                DisconnectedBy::Transport,
                ReasonCode::UNSPECIFIED_ERROR,
                Properties::new(),
            );
        }
    }

    /// Time passed: runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::ConnAck if self.state == State::AwaitingConnAck => {
                    self.violation(
                        now,
                        ProtocolViolation::ConnAckTimeout(self.options.connect_timeout),
                    );
                }
                Timer::KeepAlive if self.state == State::Connected => {
                    let Some(conn) = &mut self.conn else { continue };
                    if conn.keep_alive_ms == 0 {
                        continue;
                    }
                    let due = conn.last_sent.add_millis(conn.keep_alive_ms);
                    if now < due {
                        self.timers.set(Timer::KeepAlive, due);
                        continue;
                    }
                    self.send(now, &PingReq);
                    if self.timers.get(Timer::PingResp).is_none() {
                        let at = now.add_millis(self.ping_timeout_ms());
                        self.timers.set(Timer::PingResp, at);
                    }
                }
                Timer::PingResp if self.state == State::Connected => {
                    let timeout = Duration::from_millis(self.ping_timeout_ms());
                    self.violation(now, ProtocolViolation::PingTimeout(timeout));
                }
                Timer::Reconnect
                    if self.state == State::WaitingReconnect && !self.network_paused =>
                {
                    self.open();
                }
                _ => {}
            }
        }
    }

    // ---- outputs ----

    /// Bytes to send on the connection, as few and as large chunks as possible.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// The next thing the driver must do with the transport.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Client::handle_timeout) next, on the caller's
    /// clock; `None` when no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ---- state ----

    /// Where the client stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// True while connected (CONNACK accepted).
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The options in force (the client id is replaced by one the server assigned).
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The server's limits from the last CONNACK.
    pub fn server_limits(&self) -> ServerLimits {
        self.server
    }

    /// The store of outgoing in-flight messages.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Commands waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Encoded bytes of the commands waiting to be sent, which
    /// [`ClientOptions::max_queued_bytes`] bounds.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The packet identifier last given to an outgoing QoS 1/2 PUBLISH, SUBSCRIBE or
    /// UNSUBSCRIBE (as it was sent, not when the command was queued); `None` before the
    /// first. Resent packets keep theirs.
    pub fn last_packet_id(&self) -> Option<PacketId> {
        self.last_id
    }

    /// Granted subscriptions, as resubscribed after a reconnect without a session.
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.iter().map(|(s, _)| s)
    }

    // ---- internals ----

    fn handle(&mut self) -> Handle {
        self.next_handle += 1;
        Handle(self.next_handle)
    }

    fn ping_timeout_ms(&self) -> u64 {
        let keep_alive = self.conn.as_ref().map_or(0, |c| c.keep_alive_ms);
        self.options
            .ping_timeout
            .map_or((keep_alive / 2).max(1_000), millis)
    }

    fn open(&mut self) {
        self.state = State::Opening;
        let attempt = self.backoff.as_ref().map_or(0, Backoff::attempt);
        self.actions.push_back(Action::Open { attempt });
    }

    /// Ends the connection from the client's side: DISCONNECT with `reason_code` if
    /// connected, [`Action::Close`] and [`Event::Disconnected`] if one was open or opening.
    fn close(&mut self, now: Instant, reason_code: ReasonCode, properties: Properties) {
        let was = self.state;
        self.reset_connection();
        if was == State::Connected {
            // Written after the reset cleared the buffer, so it is the last packet.
            let packet = match self.options.version {
                ProtocolVersion::V5 => Disconnect {
                    reason_code,
                    properties,
                },
                ProtocolVersion::V311 => Disconnect::default(),
            };
            self.send(now, &packet);
        }
        if matches!(
            was,
            State::Opening | State::AwaitingConnAck | State::Connected
        ) {
            self.actions.push_back(Action::Close);
            self.events.push_back(Event::Disconnected {
                by: DisconnectedBy::Client,
                reason_code,
                properties: Properties::new(),
            });
        }
    }

    fn check_server_limits(&self, publish: &Publish, size: usize) -> Result<(), ClientError> {
        if publish.qos > self.server.maximum_qos {
            return Err(ClientError::QoSNotSupported {
                requested: publish.qos as u8,
                max: self.server.maximum_qos as u8,
            });
        }
        if publish.retain && !self.server.retain_available {
            return Err(ClientError::RetainNotSupported);
        }
        if size > self.server.maximum_packet_size as usize {
            return Err(ClientError::PacketTooLarge {
                size,
                max: self.server.maximum_packet_size,
            });
        }
        Ok(())
    }

    /// Queues a caller's command of `size` encoded bytes, unless the queue would then hold
    /// more than the limit; a refusal changes nothing.
    fn enqueue(&mut self, now: Instant, size: usize, command: Command) -> Result<(), ClientError> {
        let max = self.options.max_queued_bytes;
        if size > max.saturating_sub(self.queued_bytes) {
            return Err(ClientError::QueueFull(max));
        }
        self.queued_bytes += size;
        self.queue.push_back(command);
        if self.state == State::Connected {
            self.flush_queue(now);
        }
        Ok(())
    }

    /// Puts a command the engine takes back (a request not acknowledged, a resubscribe) in
    /// front of the queue: counted, never refused, so nothing accepted is dropped.
    fn requeue(&mut self, command: Command) {
        self.queued_bytes += self.size_of(&command);
        self.queue.push_front(command);
    }

    /// A queued command's encoded size, as counted when it was queued.
    fn size_of(&self, command: &Command) -> usize {
        let version = self.options.version;
        match command {
            Command::Publish { publish, .. } => encoded_len(publish, version),
            Command::Subscribe { packet, .. } => encoded_len(packet, version),
            Command::Unsubscribe { packet, .. } => encoded_len(packet, version),
        }
        .unwrap_or(0)
    }

    /// Sends queued commands in order while the connection and the server's receive
    /// maximum allow; stops at the first that must wait, so order is kept.
    fn flush_queue(&mut self, now: Instant) {
        while self.state == State::Connected {
            let Some(command) = self.queue.front() else {
                return;
            };
            let needs_id = match command {
                Command::Publish { publish, .. } => {
                    let window = self
                        .server
                        .receive_maximum
                        .min(self.options.max_inflight.max(1));
                    if publish.qos != QoS::AtMostOnce && self.store.len() >= usize::from(window) {
                        return; // [MQTT-4.9.0-2] wait for an acknowledgment
                    }
                    publish.qos != QoS::AtMostOnce
                }
                _ => true,
            };
            let id = if needs_id {
                match self.allocate_id() {
                    Some(id) => Some(id),
                    None => return,
                }
            } else {
                None
            };
            let Some(command) = self.queue.pop_front() else {
                return;
            };
            self.queued_bytes = self.queued_bytes.saturating_sub(self.size_of(&command));
            match command {
                Command::Publish {
                    handle,
                    mut publish,
                } => {
                    // From the queue into the store (or failed).
                    self.durable += u64::from(publish.qos != QoS::AtMostOnce);
                    publish.packet_id = id;
                    self.send_new_publish(now, handle, publish);
                }
                Command::Subscribe { handle, mut packet } => {
                    let Some(id) = id else { continue };
                    packet.packet_id = id;
                    self.send(now, &packet);
                    self.push_request(id, Request::Subscribe { handle, packet });
                }
                Command::Unsubscribe { handle, mut packet } => {
                    let Some(id) = id else { continue };
                    packet.packet_id = id;
                    self.send(now, &packet);
                    self.push_request(id, Request::Unsubscribe { handle, packet });
                }
            }
        }
    }

    fn send_new_publish(&mut self, now: Instant, handle: Handle, publish: Publish) {
        let size = encoded_len(&publish, self.options.version).unwrap_or(usize::MAX);
        if let Err(error) = self.check_server_limits(&publish, size) {
            let error = match error {
                ClientError::PacketTooLarge { size, max } => {
                    PublishError::PacketTooLarge { size, max }
                }
                // The server's limits changed while the message waited: it refuses it.
                ClientError::RetainNotSupported => {
                    PublishError::Refused(ReasonCode::RETAIN_NOT_SUPPORTED)
                }
                _ => PublishError::Refused(ReasonCode::QOS_NOT_SUPPORTED),
            };
            self.events
                .push_back(Event::PublishFailed { handle, error });
            return;
        }
        let state = match publish.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(InFlightState::AwaitingPubAck),
            QoS::ExactlyOnce => Some(InFlightState::AwaitingPubRec),
        };
        self.send_publish(now, &publish);
        match state {
            None => self.events.push_back(Event::PublishComplete {
                handle,
                reason_code: ReasonCode::SUCCESS,
            }),
            Some(state) => self.store.insert(InFlight {
                handle,
                publish,
                state,
            }),
        }
    }

    /// Writes a PUBLISH, replacing its topic by an alias where that is on and allowed.
    fn send_publish(&mut self, now: Instant, publish: &Publish) {
        let max = self.server.topic_alias_maximum;
        let aliases = match &mut self.conn {
            Some(conn)
                if self.options.outbound_topic_aliases
                    && max > 0
                    && publish.properties.topic_alias().is_none() =>
            {
                &mut conn.outbound_aliases
            }
            _ => return self.send(now, publish),
        };
        let mut aliased = publish.clone();
        if let Some(alias) = aliases.get(&publish.topic) {
            aliased.topic = TopicName::from_alias_placeholder();
            aliased.properties.push(Property::TopicAlias(alias));
        } else if let Some(alias) =
            NonZeroU16::new(aliases.len() as u16 + 1).filter(|a| a.get() <= max)
        {
            aliases.insert(publish.topic.clone(), alias);
            aliased.properties.push(Property::TopicAlias(alias));
        }
        self.send(now, &aliased);
    }

    fn take_request(&mut self, id: PacketId) -> Option<Request> {
        self.conn.as_mut()?.take_request(id)
    }

    fn push_request(&mut self, id: PacketId, request: Request) {
        if let Some(conn) = &mut self.conn {
            conn.requests.push((id, request));
        }
    }

    fn allocate_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            let id = self.next_id;
            self.next_id = id.next();
            if self.store.get(id).is_none()
                && !self.conn.as_ref().is_some_and(|c| c.has_request(id))
            {
                self.last_id = Some(id);
                return Some(id);
            }
        }
        None
    }

    /// Encodes a packet into the outgoing buffer; every packet the engine builds is valid.
    /// Typed rather than a [`Packet`], so that a client binary holds the encoders of the
    /// packets clients send and not those only servers send.
    fn send<P: Body>(&mut self, now: Instant, packet: &P) {
        if encode(packet, self.options.version, &mut self.out).is_ok()
            && let Some(conn) = &mut self.conn
        {
            conn.last_sent = now;
            if self.state == State::Connected && conn.keep_alive_ms > 0 {
                self.timers
                    .set(Timer::KeepAlive, now.add_millis(conn.keep_alive_ms));
            }
        }
    }

    fn drain_decoder(&mut self, now: Instant) {
        while let Some(conn) = &mut self.conn {
            match conn.decoder.decode_from_server() {
                Ok(Some(packet)) => self.handle_packet(now, packet),
                Ok(None) => return,
                Err(DecodeError::NotFromServer(packet_type)) => {
                    return self.violation(now, ProtocolViolation::UnexpectedPacket(packet_type));
                }
                Err(error) => return self.violation(now, ProtocolViolation::Decode(error)),
            }
        }
    }

    fn handle_packet(&mut self, now: Instant, packet: Packet) {
        let connected = self.state == State::Connected;
        match packet {
            Packet::ConnAck(ack) if !connected => self.on_connack(now, ack),
            Packet::Auth(auth) if self.options.version == ProtocolVersion::V5 => {
                self.events.push_back(Event::Auth {
                    reason_code: auth.reason_code,
                    properties: auth.properties,
                });
            }
            Packet::Disconnect(d) => {
                self.actions.push_back(Action::Close);
                self.connection_ended(now, DisconnectedBy::Server, d.reason_code, d.properties);
            }
            Packet::Publish(p) if connected => self.on_publish(now, p),
            Packet::PubAck(ack) if connected => self.on_puback(now, ack),
            Packet::PubRec(ack) if connected => self.on_pubrec(now, ack),
            Packet::PubRel(ack) if connected => self.on_pubrel(now, ack),
            Packet::PubComp(ack) if connected => self.on_pubcomp(now, ack),
            Packet::SubAck(ack) if connected => self.on_suback(now, ack),
            Packet::UnsubAck(ack) if connected => self.on_unsuback(now, ack),
            Packet::PingResp if connected => self.timers.stop(Timer::PingResp),
            other => self.violation(
                now,
                ProtocolViolation::UnexpectedPacket(other.packet_type()),
            ),
        }
    }

    fn on_connack(&mut self, now: Instant, ack: ConnAck) {
        self.timers.stop(Timer::ConnAck);
        if ack.reason_code.is_error() {
            self.actions.push_back(Action::Close);
            return self.connection_ended(
                now,
                DisconnectedBy::Server,
                ack.reason_code,
                ack.properties,
            );
        }
        self.state = State::Connected;
        self.connected_before = true;
        if let Some(backoff) = &mut self.backoff {
            backoff.reset();
        }
        let p = &ack.properties;
        self.server = ServerLimits {
            receive_maximum: p.receive_maximum().map_or(u16::MAX, NonZeroU16::get),
            maximum_packet_size: p
                .maximum_packet_size()
                .map_or(MAX_PACKET_SIZE, NonZeroU32::get),
            topic_alias_maximum: p.topic_alias_maximum().unwrap_or(0),
            maximum_qos: p.maximum_qos().unwrap_or(QoS::ExactlyOnce),
            retain_available: p.retain_available().unwrap_or(true),
        };
        if let Some(id) = p.assigned_client_identifier() {
            self.options.client_id = id;
        }
        let keep_alive = p.server_keep_alive().unwrap_or(self.options.keep_alive);
        if let Some(conn) = &mut self.conn {
            conn.keep_alive_ms = u64::from(keep_alive) * 1_000;
            if conn.keep_alive_ms > 0 {
                self.timers.set(
                    Timer::KeepAlive,
                    conn.last_sent.add_millis(conn.keep_alive_ms),
                );
            }
        }
        self.events.push_back(Event::Connected {
            session_present: ack.session_present,
            properties: ack.properties,
        });
        self.restore_session(now, ack.session_present);
        self.flush_queue(now);
    }

    /// After CONNACK: send in-flight messages again [MQTT-4.4.0-1], or handle their loss.
    fn restore_session(&mut self, now: Instant, session_present: bool) {
        if !session_present {
            self.session = Session::default();
            self.durable += 1;
        }
        for id in self.store.ids() {
            let Some(entry) = self.store.get(id).cloned() else {
                continue;
            };
            match (session_present, entry.state) {
                (true, InFlightState::AwaitingPubComp) => {
                    self.send(now, &(PacketType::PubRel, &Ack::new(id)));
                }
                (true, _) => {
                    let mut publish = entry.publish;
                    publish.dup = true;
                    self.send_publish(now, &publish);
                }
                (false, InFlightState::AwaitingPubComp) => {
                    // PUBREC came: the server had the message before its session ended.
                    self.store.remove(id);
                    self.durable += 1;
                    self.events.push_back(Event::PublishComplete {
                        handle: entry.handle,
                        reason_code: ReasonCode::SUCCESS,
                    });
                }
                (false, _) if self.options.resend_without_session => {
                    self.send_publish(now, &entry.publish);
                }
                (false, _) => {
                    self.store.remove(id);
                    self.durable += 1;
                    self.events.push_back(Event::PublishFailed {
                        handle: entry.handle,
                        error: PublishError::SessionLost,
                    });
                }
            }
        }
        if !session_present && self.options.resubscribe {
            let resubscribe = self.subscriptions.to_vec();
            for (subscription, id) in resubscribe.into_iter().rev() {
                let mut properties = Properties::new();
                if let Some(id) = id {
                    properties.push(Property::SubscriptionIdentifier(id));
                }
                let packet = Subscribe {
                    packet_id: PacketId::MIN,
                    properties,
                    subscriptions: vec![subscription],
                };
                self.requeue(Command::Subscribe {
                    handle: None,
                    packet,
                });
            }
        }
    }

    fn on_publish(&mut self, now: Instant, mut publish: Publish) {
        if let Some(alias) = publish.properties.topic_alias() {
            let max = self.options.topic_alias_maximum;
            if alias.get() > max {
                return self.violation(
                    now,
                    ProtocolViolation::TopicAliasOutOfRange {
                        alias: alias.get(),
                        max,
                    },
                );
            }
            let Some(aliases) = self.conn.as_mut().map(|c| &mut c.inbound_aliases) else {
                return;
            };
            if publish.topic.is_empty() {
                match aliases.get(alias) {
                    Some(topic) => publish.topic = topic.clone(),
                    None => {
                        return self
                            .violation(now, ProtocolViolation::UnknownTopicAlias(alias.get()));
                    }
                }
            } else {
                aliases.insert(alias, publish.topic.clone());
            }
        }
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                self.events.push_back(Event::Message(publish));
                self.send(now, &(PacketType::PubAck, &Ack::new(id)));
            }
            (QoS::ExactlyOnce, Some(id)) => {
                if !self.session.inbound_qos2.contains(id) {
                    if self.session.inbound_qos2.len() >= usize::from(self.options.receive_maximum)
                    {
                        return self.violation(
                            now,
                            ProtocolViolation::ReceiveMaximumExceeded(self.options.receive_maximum),
                        );
                    }
                    self.session.inbound_qos2.insert(id);
                    self.durable += 1;
                    self.events.push_back(Event::Message(publish));
                }
                self.send(now, &(PacketType::PubRec, &Ack::new(id)));
            }
            _ => self.events.push_back(Event::Message(publish)),
        }
    }

    fn on_puback(&mut self, now: Instant, ack: Ack) {
        self.finish_in_flight(now, &ack, InFlightState::AwaitingPubAck);
    }

    /// The last acknowledgment of an outgoing message (PUBACK, PUBCOMP, or a refusing
    /// PUBREC): if the message waits for it, report the outcome and free its slot.
    fn finish_in_flight(&mut self, now: Instant, ack: &Ack, awaiting: InFlightState) {
        if self
            .store
            .get(ack.packet_id)
            .is_some_and(|e| e.state == awaiting)
        {
            if let Some(entry) = self.store.remove(ack.packet_id) {
                self.durable += 1;
                self.complete(entry.handle, ack.reason_code);
            }
            self.flush_queue(now);
        }
    }

    fn on_pubrec(&mut self, now: Instant, ack: Ack) {
        let id = ack.packet_id;
        match self.store.get(id).map(|e| e.state) {
            Some(InFlightState::AwaitingPubRec) if ack.reason_code.is_error() => {
                self.finish_in_flight(now, &ack, InFlightState::AwaitingPubRec);
            }
            Some(InFlightState::AwaitingPubRec | InFlightState::AwaitingPubComp) => {
                self.store.set_state(id, InFlightState::AwaitingPubComp);
                self.durable += 1;
                self.send(now, &(PacketType::PubRel, &Ack::new(id)));
            }
            _ => {
                let mut rel = Ack::new(id);
                if self.options.version == ProtocolVersion::V5 {
                    rel.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.send(now, &(PacketType::PubRel, &rel));
            }
        }
    }

    fn on_pubrel(&mut self, now: Instant, ack: Ack) {
        let mut comp = Ack::new(ack.packet_id);
        if self.session.inbound_qos2.remove(ack.packet_id) {
            self.durable += 1;
        } else if self.options.version == ProtocolVersion::V5 {
            comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
        }
        self.send(now, &(PacketType::PubComp, &comp));
    }

    fn on_pubcomp(&mut self, now: Instant, ack: Ack) {
        self.finish_in_flight(now, &ack, InFlightState::AwaitingPubComp);
    }

    fn complete(&mut self, handle: Handle, reason_code: ReasonCode) {
        self.events.push_back(if reason_code.is_error() {
            Event::PublishFailed {
                handle,
                error: PublishError::Refused(reason_code),
            }
        } else {
            Event::PublishComplete {
                handle,
                reason_code,
            }
        });
    }

    fn on_suback(&mut self, now: Instant, ack: SubAck) {
        let Some(request) = self.take_request(ack.packet_id) else {
            return;
        };
        let Request::Subscribe { handle, packet } = request else {
            return self.violation(now, ProtocolViolation::UnexpectedPacket(PacketType::SubAck));
        };
        if ack.reason_codes.len() != packet.subscriptions.len() {
            return self.violation(
                now,
                ProtocolViolation::ReasonCodeCount {
                    packet: PacketType::SubAck,
                    expected: packet.subscriptions.len(),
                    got: ack.reason_codes.len(),
                },
            );
        }
        let id = packet.properties.subscription_identifiers().next();
        for (subscription, code) in packet.subscriptions.into_iter().zip(&ack.reason_codes) {
            if code.is_error() {
                continue;
            }
            match self
                .subscriptions
                .iter_mut()
                .find(|(s, _)| s.filter == subscription.filter)
            {
                Some(existing) => *existing = (subscription, id),
                None => self.subscriptions.push((subscription, id)),
            }
        }
        self.events.push_back(Event::Subscribed {
            handle,
            reason_codes: ack.reason_codes,
        });
        self.flush_queue(now);
    }

    fn on_unsuback(&mut self, now: Instant, ack: UnsubAck) {
        let Some(request) = self.take_request(ack.packet_id) else {
            return;
        };
        let Request::Unsubscribe { handle, packet } = request else {
            return self.violation(
                now,
                ProtocolViolation::UnexpectedPacket(PacketType::UnsubAck),
            );
        };
        if self.options.version == ProtocolVersion::V5
            && ack.reason_codes.len() != packet.filters.len()
        {
            return self.violation(
                now,
                ProtocolViolation::ReasonCodeCount {
                    packet: PacketType::UnsubAck,
                    expected: packet.filters.len(),
                    got: ack.reason_codes.len(),
                },
            );
        }
        self.subscriptions
            .retain(|(s, _)| !packet.filters.contains(&s.filter));
        self.events.push_back(Event::Unsubscribed {
            handle,
            reason_codes: ack.reason_codes,
        });
        self.flush_queue(now);
    }

    /// The server broke the protocol: tell it why (5.0), close, and reconnect.
    fn violation(&mut self, now: Instant, violation: ProtocolViolation) {
        let reason_code = violation.reason_code();
        self.events.push_back(Event::ProtocolError {
            reason_code,
            violation,
        });
        self.connection_ended(
            now,
            DisconnectedBy::Transport,
            reason_code,
            Properties::new(),
        );
        if self.options.version == ProtocolVersion::V5 {
            // Written after connection_ended cleared the buffer, so it is the last packet.
            let disconnect = Disconnect::new(reason_code);
            let _ = encode(&disconnect, ProtocolVersion::V5, &mut self.out);
        }
        self.actions.push_back(Action::Close);
    }

    /// The connection is gone: report it, keep what must be sent again, and schedule the
    /// next attempt.
    fn connection_ended(
        &mut self,
        now: Instant,
        by: DisconnectedBy,
        reason_code: ReasonCode,
        properties: Properties,
    ) {
        self.events.push_back(Event::Disconnected {
            by,
            reason_code,
            properties,
        });
        self.reset_connection();
        self.schedule_reconnect(now);
    }

    /// Drops the connection, and with it everything that lives only as long as one; what
    /// it had not sent yet and its timers go too (the two outputs the client keeps for the
    /// driver).
    fn reset_connection(&mut self) {
        self.out.clear();
        self.timers.stop_all();
        self.state = State::Idle;
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Requests not acknowledged go first in the queue, in the order they were sent.
        let mut requests = conn.requests;
        while let Some((_, request)) = requests.pop() {
            self.requeue(match request {
                Request::Subscribe { handle, packet } => Command::Subscribe { handle, packet },
                Request::Unsubscribe { handle, packet } => Command::Unsubscribe { handle, packet },
            });
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        let Some(backoff) = &mut self.backoff else {
            return self.stop();
        };
        match backoff.next_delay() {
            Some(delay) => {
                self.state = State::WaitingReconnect;
                let at = now.add_millis(delay);
                if !self.network_paused {
                    self.timers.set(Timer::Reconnect, at);
                }
                self.events.push_back(Event::Reconnecting {
                    at,
                    attempt: backoff.attempt(),
                });
            }
            None => {
                self.events.push_back(Event::ReconnectGaveUp);
                self.stop();
            }
        }
    }

    /// Stops for good: queued commands fail; the store is kept.
    fn stop(&mut self) {
        self.state = State::Idle;
        self.timers.stop_all();
        if let Some(backoff) = &mut self.backoff {
            backoff.reset();
        }
        self.queued_bytes = 0;
        self.durable += 1;
        for command in self.queue.drain(..) {
            self.events.push_back(match command {
                Command::Publish { handle, .. } => Event::PublishFailed {
                    handle,
                    error: PublishError::Stopped,
                },
                Command::Subscribe {
                    handle: Some(handle),
                    ..
                }
                | Command::Unsubscribe { handle, .. } => Event::RequestFailed { handle },
                Command::Subscribe { handle: None, .. } => continue,
            });
        }
    }
}
