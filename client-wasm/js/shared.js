// mqttwire/shared: one connection for all tabs of an origin. `connectShared` gives the same
// MqttClient API as `connect`, but the client runs in a SharedWorker (shared-worker.js)
// that every tab asking for the same URL and options shares: one WebSocket, subscriptions
// counted across tabs. This module holds only the tab's side, no WebAssembly; where the
// browser has no SharedWorker, it loads the worker's code into the tab (one connection per
// tab) and says so in the `sharing` event.
import { Emitter, mqttError, settle, topicMatches } from './util.js';

/** The worker's copy of an error, as an MqttError again. */
function revive(e) {
  const error = mqttError(e.code, e.message);
  if (e.code === undefined) error.name = e.name ?? 'Error';
  if (e.reasonCode !== undefined) error.reasonCode = e.reasonCode;
  return error;
}

/** A client whose connection lives in the shared worker. Create it with `connectShared`. */
export class SharedMqttClient extends Emitter {
  constructor(url, options) {
    super();
    this.options = options ?? {};
    this._state = { connected: false, reconnecting: false, queued: 0 };
    this._pending = new Map();
    this._id = 0;
    this._handlers = [];
    this._ended = false;
    const lock = `mqttwire-tab-${Math.random().toString(36).slice(2)}${Date.now()}`;
    const open = { op: 'open', url, options: this.options, lock };
    try {
      structuredClone(open);
    } catch {
      throw mqttError('INVALID_OPTION', 'connectShared: url and options must be plain data (no functions): the shared worker gets a copy');
    }
    // Held while the tab lives: the worker learns that the tab is gone when it gets it.
    // The worker hears of the tab once the tab holds it (lock requests from two contexts
    // have no order), and every message after that.
    this._opened = !navigator.locks ? Promise.resolve() : new Promise((held) => {
      navigator.locks.request(lock, () => {
        held();
        return new Promise((resolve) => { this._unlock = resolve; });
      });
    });
    // What was sent before the worker first answered, to send again in the tab if it
    // fails to start (a content security policy without worker-src, say).
    this._unanswered = [];
    const failed = 'the shared worker failed to start: this tab has a connection of its own';
    let worker = null;
    try {
      if (typeof SharedWorker === 'function') {
        worker = new SharedWorker(new URL('./shared-worker.js', import.meta.url), { type: 'module', name: 'mqttwire' });
      }
    } catch {
      this._inTab(failed);
    }
    if (worker) {
      worker.onerror = () => {
        if (this._unanswered) this._inTab(failed);
        else this.emit('error', mqttError('SHARED_WORKER', 'the shared worker failed'));
      };
      this._listen(worker.port);
    } else if (this._unanswered) {
      this._inTab('no SharedWorker in this browser: this tab has a connection of its own');
    }
    this._send(open);
    this._onPageHide = () => this._port.postMessage({ op: 'end' });
    if (typeof addEventListener === 'function') addEventListener('pagehide', this._onPageHide);
  }

  _listen(port) {
    this._port = port;
    port.onmessage = ({ data }) => {
      if (this._unanswered) {
        this._unanswered = null;
        this.emit('sharing', { shared: true });
      }
      this._receive(data);
    };
  }

  /** Runs the worker's code in the tab instead, over a MessageChannel, and replays what
   * went to the worker that did not answer. */
  _inTab(reason) {
    const channel = new MessageChannel();
    import('./shared-worker.js').then((worker) => worker.attach(channel.port2));
    this._port?.close();
    this._port = channel.port1;
    this._port.onmessage = ({ data }) => this._receive(data);
    for (const message of this._unanswered) this._port.postMessage(message);
    this._unanswered = null;
    queueMicrotask(() => this.emit('sharing', { shared: false, reason }));
  }

  /** True while connected. */
  get connected() { return this._state.connected; }
  /** True while a reconnect is scheduled or under way. */
  get reconnecting() { return this._state.reconnecting; }
  /** Commands waiting to be sent, in the worker. */
  get queued() { return this._state.queued; }
  /** The packet identifier of the last QoS 1/2 publish, subscribe or unsubscribe the shared
   * connection sent (for any tab) when the worker last answered this one; null before one. */
  getLastMessageId() { return this._state.lastMessageId ?? null; }

  /** Makes the shared connection connect again at once (for every tab). */
  reconnect() {
    this._request('reconnect', {}).catch(() => {});
    return this;
  }

  _receive(data) {
    if (data.state) this._state = data.state;
    if (data.msgs) {
      // The worker's batch (shared-worker.js, `Batch`): the payloads end to end in one buffer.
      const { bytes, topics, ends, flags, properties } = data.msgs;
      for (let i = 0, start = 0; i < topics.length; start = ends[i++]) {
        const topic = topics[i];
        const payload = bytes.subarray(start, ends[i]);
        const f = flags[i];
        const packet = {
          cmd: 'publish', topic, payload, qos: f & 3, retain: (f & 4) !== 0, dup: (f & 8) !== 0, properties: properties?.[i],
        };
        this.emit('message', topic, payload, packet);
        for (const [filter, handler] of this._handlers.slice()) {
          if (!topicMatches(filter, topic)) continue;
          try { handler(topic, payload, packet); } catch (error) { queueMicrotask(() => { throw error; }); }
        }
      }
    } else if (data.re !== undefined) {
      const [resolve, reject] = this._pending.get(data.re) ?? [];
      this._pending.delete(data.re);
      if (data.err) reject?.(revive(data.err)); else resolve?.(data.ok);
    } else if (data.ev) {
      this.emit(data.ev, ...(data.ev === 'error' ? [revive(data.arg)] : data.arg === undefined ? [] : [data.arg]));
    }
  }

  /** Posts `message` once the tab holds its lock; `failed` gets what cannot be sent. */
  _send(message, failed) {
    this._opened.then(() => {
      try {
        this._port.postMessage(message);
        this._unanswered?.push(message);
      } catch (error) {
        failed?.(mqttError('INVALID_OPTION', `cannot go to the shared worker: ${error.message}`));
      }
    });
  }

  _request(op, fields) {
    if (this._ended) return Promise.reject(mqttError('CLIENT_ENDED', 'the client was ended'));
    const id = ++this._id;
    return new Promise((resolve, reject) => {
      this._pending.set(id, [resolve, reject]);
      this._send({ op, id, ...fields }, (error) => {
        this._pending.delete(id);
        reject(error);
      });
    });
  }

  /** Publishes `message` (string, Uint8Array or ArrayBuffer) to `topic`. */
  publishAsync(topic, message, options) { return this._request('publish', { topic, message, options }); }
  publish(topic, message, options, callback) {
    if (typeof options === 'function') { callback = options; options = undefined; }
    return settle(this.publishAsync(topic, message, options), callback, this);
  }

  /** Subscribes; resolves with the granted `[{ topic, qos }]`. The broker sees a filter
   * once, however many tabs subscribe to it. */
  subscribeAsync(topics, options) { return this._request('subscribe', { topics, options }); }
  subscribe(topics, options, callback) {
    if (typeof options === 'function') { callback = options; options = undefined; }
    return settle(this.subscribeAsync(topics, options), callback, this);
  }

  /** Unsubscribes this tab; the broker is told when no other tab has the filter. */
  unsubscribeAsync(topics, options) { return this._request('unsubscribe', { topics, options }); }
  unsubscribe(topics, options, callback) {
    if (typeof options === 'function') { callback = options; options = undefined; }
    return settle(this.unsubscribeAsync(topics, options), callback, this);
  }

  /** Calls `handler(topic, payload, packet)` for messages whose topic matches `filter`.
   * Returns a function that removes it. */
  handle(filter, handler) {
    if (typeof handler !== 'function') throw mqttError('INVALID_OPTION', 'handle: the handler must be a function');
    const entry = [filter, handler];
    this._handlers.push(entry);
    return () => {
      const i = this._handlers.indexOf(entry);
      if (i >= 0) this._handlers.splice(i, 1);
    };
  }

  /** This tab leaves the shared connection: its subscriptions are released; the
   * connection ends when no tab uses it any more. */
  async endAsync() {
    if (this._ended) return;
    await this._request('end', {});
    this._ended = true;
    if (typeof removeEventListener === 'function') removeEventListener('pagehide', this._onPageHide);
    this._unlock?.();
    this._port.close();
    for (const [, reject] of this._pending.values()) reject(mqttError('CLIENT_ENDED', 'the client was ended'));
    this._pending.clear();
    this.emit('end');
  }
  end(force, options, callback) {
    if (typeof force === 'function') { callback = force; force = undefined; }
    if (typeof options === 'function') { callback = options; options = undefined; }
    settle(this.endAsync(), callback, this);
    return this;
  }
}

/**
 * Connects through the origin's shared worker: every tab that calls this with the same
 * `url` and `options` shares one connection. `options` are those of `connect`, as plain
 * data (a password function cannot reach the worker).
 */
export function connectShared(url, options) {
  return new SharedMqttClient(url, options);
}

/** Like `connectShared`, resolving once the shared connection is up. */
export function connectSharedAsync(url, options) {
  const client = new SharedMqttClient(url, options);
  return new Promise((resolve, reject) => {
    if (client.connected) return resolve(client);
    const onConnect = () => { client.off('error', onError); resolve(client); };
    const onError = (error) => { client.off('connect', onConnect); reject(error); };
    client.once('connect', onConnect).once('error', onError);
  });
}
