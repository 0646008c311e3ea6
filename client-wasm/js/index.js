// mqttwire: MQTT 3.1.1 and 5.0 for the browser, over WebSocket. The protocol engine is
// Rust compiled to WebAssembly; this module gives it an MQTT.js-style API: `connect`,
// `connectAsync`, events with `on`/`once`/`off`, Promise and callback forms.
import init, { MqttCore } from './mqttwire_wasm.js';
import { Emitter, mqttError, settle } from './util.js';

let loading = null;
/**
 * Loads the WebAssembly module once; every client waits for it. Node's fetch cannot read
 * a file: URL (Deno's and Bun's can), so there its bytes are read with node:fs, reached
 * through process.getBuiltinModule rather than an import a browser bundler would follow.
 */
function load() {
  if (loading === null) {
    const url = new URL(MQTTWIRE_STORE ? 'mqttwire_store_wasm_bg.wasm' : 'mqttwire_wasm_bg.wasm', import.meta.url);
    const fs = url.protocol === 'file:' && globalThis.process?.getBuiltinModule?.('fs');
    loading = init({ module_or_path: fs ? fs.promises.readFile(url) : url });
  }
  return loading;
}

/** An MQTT client. Create it with `connect` or `connectAsync`. */
export class MqttClient extends Emitter {
  constructor(url, options) {
    super();
    this.options = options ?? {};
    this._url = url;
    this._flushing = false;
    this._onOnline = () => this._core?.setOnline(true);
    this._onOffline = () => this._core?.setOnline(false);
    this._start();
  }

  /** Makes the core (once the module and the store are loaded) and starts connecting. */
  _start() {
    const url = this._url;
    this._core = null;
    this._ended = false;
    // MQTTWIRE_STORE: true in the build of mqttwire/store (client-wasm/build.sh); in the
    // core, whose engine refuses the option, false and the store code is left out.
    const store = MQTTWIRE_STORE && this.options.store;
    const id = this.options.clientId;
    if (store && !id) throw mqttError('INVALID_OPTION', "option 'store' needs a 'clientId'");
    this._started = Promise.all([load(), store && openStore(store, id, this)]).then(([, saved]) => {
      if (this._ended) return;
      this._core = new MqttCore(url, this.options, (type, ...args) => this._dispatch(type, args),
        saved?.[0], saved?.[1]);
      if (typeof window !== 'undefined') {
        window.addEventListener('online', this._onOnline);
        window.addEventListener('offline', this._onOffline);
      }
    });
    this._started.catch((error) => this.emit('error', error));
  }

  /** True while connected. */
  get connected() { return this._core?.connected ?? false; }
  /** True while a reconnect is scheduled or under way. */
  get reconnecting() { return this._core?.reconnecting ?? false; }
  /** Commands waiting to be sent (offline, or over the server's in-flight limit). */
  get queued() { return this._core?.queued ?? 0; }
  /** The packet identifier of the last QoS 1/2 publish, subscribe or unsubscribe sent; null before one. */
  getLastMessageId() { return this._core?.lastMessageId || null; }

  /** Connects again at once; after `end`, starts the client again (a new session state). */
  reconnect() {
    if (!this._ended) this._started.then(() => this._core?.reconnect());
    else this._ending.then(() => this._ended && this._start());
    return this;
  }

  /** Publishes `message` (string, Uint8Array or ArrayBuffer) to `topic`. */
  publishAsync(topic, message, options) {
    const core = this._core;
    if (core === null) return this._ready().then(() => this.publishAsync(topic, message, options));
    let done;
    try {
      done = core.publish(topic, message, options);
    } catch (error) {
      return Promise.reject(error);
    }
    // The publishes of one task leave together, in one WebSocket message.
    if (!this._flushing) {
      this._flushing = true;
      queueMicrotask(() => {
        this._flushing = false;
        this._core?.flush();
      });
    }
    return done;
  }
  publish(topic, message, options, callback) {
    if (typeof options === 'function') { callback = options; options = undefined; }
    return settle(this.publishAsync(topic, message, options), callback, this);
  }

  /** Subscribes; resolves with the granted `[{ topic, qos }]`. */
  async subscribeAsync(topics, options) {
    await this._ready();
    return this._core.subscribe(topics, options);
  }
  subscribe(topics, options, callback) {
    if (typeof options === 'function') { callback = options; options = undefined; }
    return settle(this.subscribeAsync(topics, options), callback, this);
  }

  async unsubscribeAsync(topics, options) {
    await this._ready();
    return this._core.unsubscribe(topics, options);
  }
  unsubscribe(topics, options, callback) {
    if (typeof options === 'function') { callback = options; options = undefined; }
    return settle(this.unsubscribeAsync(topics, options), callback, this);
  }

  /**
   * Calls `handler(topic, payload, packet)` for messages whose topic matches `filter`
   * (matched by the engine, handlers in the order they were added). Returns a function that
   * removes it.
   */
  handle(filter, handler) {
    if (typeof handler !== 'function') throw mqttError('INVALID_OPTION', 'handle: the handler must be a function');
    // An exception in a handler reaches the page as an uncaught error, as one in an on()
    // listener does, and the handlers after it still run.
    const call = (topic, payload, packet) => {
      try { handler(topic, payload, packet); } catch (error) { queueMicrotask(() => { throw error; }); }
    };
    const add = () => this._core.addHandler(filter, call);
    if (this._core) add(); else this._started.then(add);
    return () => this._core?.removeHandler(filter, call);
  }

  /** Disconnects, stops reconnecting and releases the socket, timers and memory. */
  endAsync(force, options) {
    if (!this._ended) {
      this._ended = true;
      this._ending = this._end(options);
    }
    return this._ending;
  }
  end(force, options, callback) {
    if (typeof force === 'function') { callback = force; force = undefined; }
    if (typeof options === 'function') { callback = options; options = undefined; }
    settle(this.endAsync(force, options), callback, this);
    return this;
  }

  async _end(options) {
    await this._started.catch(() => {});
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this._onOnline);
      window.removeEventListener('offline', this._onOffline);
    }
    const core = this._core;
    if (core) {
      const reasonCode = typeof options === 'object' && options ? options.reasonCode : undefined;
      core.end(reasonCode);
      this._core = null;
      core.free();
    } else {
      this.emit('end');
    }
  }

  async _ready() {
    await this._started;
    if (!this._core) throw mqttError('CLIENT_ENDED', 'the client was ended');
  }

  _dispatch(type, args) {
    if (type === 'messages') {
      const batch = args[0];
      // Four values per message: topic, payload, flags (QoS bits 0-1, retain 2, dup 3),
      // properties.
      for (let i = 0; i < batch.length; i += 4) {
        const topic = batch[i];
        const payload = batch[i + 1];
        const flags = batch[i + 2];
        const packet = {
          cmd: 'publish', topic, payload, qos: flags & 3, retain: (flags & 4) !== 0, dup: (flags & 8) !== 0,
          properties: batch[i + 3],
        };
        this.emit('message', topic, payload, packet);
      }
      return;
    }
    // The engine passes the parts of these events' packets; the objects are made here.
    const [a, b] = args;
    if (type === 'connect') this.emit(type, { sessionPresent: a, reasonCode: 0, properties: b });
    else if (type === 'disconnect' || type === 'auth') this.emit(type, { reasonCode: a, properties: b });
    else if (type === 'reconnecting') this.emit(type, { delay: a, attempt: b });
    else this.emit(type, ...args);
  }
}

/**
 * What `store` saved for client `id` and the function that saves a new state; an `error`
 * event and nothing when it fails (the client then keeps its state in memory only).
 */
async function openStore(store, id, client) {
  try {
    // Asynchronous even when load throws: the caller's listeners are on by then.
    const saved = await Promise.resolve().then(() => store.load(id));
    return [saved ?? undefined, (bytes) => store.save(id, bytes)];
  } catch (error) {
    const e = mqttError('STORE_FAILED', `the store could not load: the state is kept in memory only (${error?.message ?? error})`);
    client.emit('error', Object.assign(e, { cause: error }));
  }
}

/** Creates a client and starts connecting; listen for 'connect' and 'error'. */
export function connect(url, options) {
  return new MqttClient(url, options);
}

/** Creates a client and resolves once it is connected (rejects if the first attempt fails). */
export async function connectAsync(url, options) {
  const client = new MqttClient(url, options);
  await client._started;
  if (!client._core) throw mqttError('CLIENT_ENDED', 'the client was ended');
  try {
    await client._core.ready();
  } catch (error) {
    await client.endAsync();
    throw error;
  }
  return client;
}

/**
 * Bytes of WebAssembly memory the package holds, once a client has loaded it (0 before).
 * The memory grows and is never handed back, so this is the high-water mark of all clients
 * of the page: steady over many connects and ends when nothing leaks.
 */
export async function memoryBytes() {
  if (loading === null) return 0;
  const exports = await loading;
  const memory = Object.values(exports).find((e) => e instanceof WebAssembly.Memory);
  return memory.buffer.byteLength;
}

export default { connect, connectAsync, MqttClient };
