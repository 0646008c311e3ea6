// Types of the mqttwire package: an MQTT.js-style client whose engine is WebAssembly.
// It runs in browsers (pages and workers) and in Node 22.3+ (20.16+ with
// --experimental-websocket), Deno and Bun, with their global WebSocket.

/** A payload: text (sent as UTF-8) or bytes. */
export type Payload = string | Uint8Array | ArrayBuffer | ArrayBufferView;
/** Quality of service. */
export type QoS = 0 | 1 | 2;

/** MQTT 5.0 user properties: name to value, or to several values in order. */
export type UserProperties = Record<string, string | string[]>;

/** MQTT 5.0 properties of CONNECT. */
export interface ConnectProperties {
  sessionExpiryInterval?: number;
  receiveMaximum?: number;
  maximumPacketSize?: number;
  topicAliasMaximum?: number;
  requestResponseInformation?: boolean;
  requestProblemInformation?: boolean;
  authenticationMethod?: string;
  authenticationData?: Payload;
  userProperties?: UserProperties;
}

/** MQTT 5.0 properties of PUBLISH (and of the will, plus `willDelayInterval`). */
export interface PublishProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Payload;
  topicAlias?: number;
  userProperties?: UserProperties;
}

/** Properties as received: every field the server may send. */
export interface ReceivedProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  subscriptionIdentifier?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQos?: 0 | 1;
  retainAvailable?: boolean;
  userProperties?: UserProperties;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

/** The will message, published by the broker if the connection drops without DISCONNECT. */
export interface WillOptions {
  topic: string;
  payload?: Payload;
  qos?: QoS;
  retain?: boolean;
  properties?: PublishProperties & { willDelayInterval?: number };
}

/** Options of `connect` and `connectAsync`. Unknown or ill-typed options are errors. */
export interface ClientOptions {
  /** 4 for MQTT 3.1.1 (default), 5 for MQTT 5.0. */
  protocolVersion?: 4 | 5;
  /** Defaults to a random `mqttwire_xxxxxxxx`. */
  clientId?: string;
  /** Clean start (5.0) / clean session (3.1.1); default true. */
  clean?: boolean;
  /** Keep alive in seconds; default 60, 0 turns it off. */
  keepalive?: number;
  username?: string;
  /** A password, or a function giving one (or a Promise of one) before every (re)connect. */
  password?: string | Uint8Array | (() => string | Promise<string>);
  will?: WillOptions;
  /** Smallest reconnect delay in ms (default 1000); 0 turns reconnecting off. */
  reconnectPeriod?: number;
  /** Exponential backoff with full jitter. */
  reconnect?: { minDelay?: number; maxDelay?: number; maxAttempts?: number };
  /** Time allowed for CONNACK, in ms (default 30000). */
  connectTimeout?: number;
  /** Subscribe again after reconnecting without a session (default true). */
  resubscribe?: boolean;
  /** Queue QoS 0 publishes while offline (default true). */
  queueQoSZero?: boolean;
  /**
   * Most bytes of publishes, subscribes and unsubscribes waiting to be sent (offline, or
   * behind the in-flight window), counted as encoded packets (default 67108864, 64 MiB). A
   * command past it rejects with code `QUEUE_FULL`; nothing accepted is dropped.
   */
  maxQueuedBytes?: number;
  /** Most QoS 1/2 messages in flight (default 20 on 3.1.1; the server's limit on 5.0). */
  maxInflight?: number;
  properties?: ConnectProperties;
  /**
   * Keeps outgoing QoS 1/2 messages (in flight and queued), their PUBREL state and the
   * inbound QoS 2 identifiers across page loads: `indexedDbStore()`. Only the client of
   * the entry point `mqttwire/store` has it (import `connect` from there too); the core
   * refuses it with `INVALID_OPTION`.
   * Needs `clientId`; use `clean: false` for the broker to keep the session too. Each
   * change is saved before anything that follows from it is sent; a failing store is an
   * `error` event with code `STORE_FAILED`, and the client goes on in memory.
   */
  store?: import('./store.js').Store;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  properties?: PublishProperties;
}

export interface SubscribeOptions {
  qos?: QoS;
  /** No local (5.0). */
  nl?: boolean;
  /** Retain as published (5.0). */
  rap?: boolean;
  /** Retain handling (5.0). */
  rh?: 0 | 1 | 2;
  properties?: { subscriptionIdentifier?: number; userProperties?: UserProperties };
}

/** A granted subscription; `qos` is 128 when the server refused the filter. */
export interface SubscriptionGrant {
  topic: string;
  qos: QoS | 128;
}

/** A received message. */
export interface PublishPacket {
  cmd: 'publish';
  topic: string;
  /** A view of the received bytes; copy it to keep it beyond the callback's data. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  properties?: ReceivedProperties;
}

/** The CONNACK of a successful connection. */
export interface ConnackPacket {
  sessionPresent: boolean;
  reasonCode: number;
  properties?: ReceivedProperties;
}

/** Every error has a stable `code` and, where MQTT defines one, the `reasonCode`. */
export interface MqttError extends Error {
  code:
    | 'INVALID_OPTION' | 'INVALID_TOPIC' | 'INVALID_PACKET' | 'QUEUE_FULL' | 'QOS_NOT_SUPPORTED'
    | 'RETAIN_NOT_SUPPORTED' | 'PACKET_TOO_LARGE' | 'PUBLISH_REFUSED' | 'DROPPED_OFFLINE'
    | 'SESSION_LOST' | 'CLIENT_ENDED' | 'CONNECT_FAILED' | 'PROTOCOL_ERROR' | 'RECONNECT_GAVE_UP'
    | 'PASSWORD_FUNCTION' | 'STORE_FAILED' | 'SHARED_WORKER' | 'CLIENT_ERROR';
  reasonCode?: number;
}

export interface ClientEvents {
  connect: (connack: ConnackPacket) => void;
  message: (topic: string, payload: Uint8Array, packet: PublishPacket) => void;
  reconnect: () => void;
  /** A reconnect attempt is scheduled `delay` ms from now (mqttwire only; not in MQTT.js). */
  reconnecting: (info: { delay: number; attempt: number }) => void;
  close: () => void;
  offline: () => void;
  disconnect: (packet: { reasonCode: number; properties?: ReceivedProperties }) => void;
  error: (error: MqttError) => void;
  end: () => void;
  auth: (packet: { reasonCode: number; properties?: ReceivedProperties }) => void;
}

type Callback<T> = (error: MqttError | null, result?: T) => void;

export declare class MqttClient {
  private constructor();
  readonly options: ClientOptions;
  /** True while connected. */
  readonly connected: boolean;
  /** True while a reconnect is scheduled or under way. */
  readonly reconnecting: boolean;
  /** Commands waiting to be sent. */
  readonly queued: number;

  /**
   * The packet identifier of the last QoS 1/2 publish, subscribe or unsubscribe sent
   * (identifiers are given as packets leave, so one queued offline has none yet); `null`
   * before the first. MQTT.js gives a number even then.
   */
  getLastMessageId(): number | null;
  /**
   * Connects again at once, as MQTT.js's `reconnect()`: while connected it sends DISCONNECT
   * (normal: the broker publishes no will) and emits `reconnect`, `close` and `connect`; a
   * scheduled attempt is brought forward and the backoff starts over. Queued commands and
   * messages in flight carry over. After `end` (or `RECONNECT_GAVE_UP`) it starts the
   * client again with its options and listeners; after `end` that is a fresh start:
   * what `end` rejected stays rejected, and `handle()` handlers must be added again.
   */
  reconnect(): this;

  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  addListener<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  once<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  removeListener<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this;
  removeAllListeners(event?: keyof ClientEvents): this;

  /** Resolves when written (QoS 0), acknowledged (QoS 1) or complete (QoS 2). */
  publishAsync(topic: string, message: Payload, options?: PublishOptions): Promise<{ reasonCode: number }>;
  publish(topic: string, message: Payload, options?: PublishOptions, callback?: Callback<{ reasonCode: number }>): this;
  publish(topic: string, message: Payload, callback?: Callback<{ reasonCode: number }>): this;

  subscribeAsync(topics: string | string[] | Record<string, { qos: QoS }>, options?: SubscribeOptions): Promise<SubscriptionGrant[]>;
  subscribe(topics: string | string[] | Record<string, { qos: QoS }>, options?: SubscribeOptions, callback?: Callback<SubscriptionGrant[]>): this;
  subscribe(topics: string | string[] | Record<string, { qos: QoS }>, callback?: Callback<SubscriptionGrant[]>): this;

  /** Resolves with one reason code per filter on MQTT 5.0, none on 3.1.1. */
  unsubscribeAsync(topics: string | string[], options?: { properties?: { userProperties?: UserProperties } }): Promise<number[]>;
  unsubscribe(topics: string | string[], options?: { properties?: { userProperties?: UserProperties } }, callback?: Callback<number[]>): this;
  unsubscribe(topics: string | string[], callback?: Callback<number[]>): this;

  /** Calls `handler` for messages matching `filter`; returns a function that removes it. */
  handle(filter: string, handler: (topic: string, payload: Uint8Array, packet: { qos: QoS; retain: boolean; properties?: ReceivedProperties }) => void): () => void;

  endAsync(force?: boolean, options?: { reasonCode?: number }): Promise<void>;
  end(force?: boolean, options?: { reasonCode?: number }, callback?: () => void): this;
  end(callback?: () => void): this;
}

/** Creates a client and starts connecting. */
export declare function connect(url: string, options?: ClientOptions): MqttClient;
/** Resolves with a connected client, or rejects if the first attempt fails. */
export declare function connectAsync(url: string, options?: ClientOptions): Promise<MqttClient>;

/**
 * Bytes of WebAssembly memory the package holds, once a client has loaded it (0 before).
 * The memory grows and is never handed back, so this is the high-water mark of all clients
 * of the page: steady over many connects and ends when nothing leaks.
 */
export declare function memoryBytes(): Promise<number>;

declare const _default: { connect: typeof connect; connectAsync: typeof connectAsync; MqttClient: typeof MqttClient };
export default _default;
