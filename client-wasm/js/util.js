// What the entry points of the package share: the event emitter of a client, the
// callback forms of its methods, its errors, and MQTT's topic matching. build.sh bundles
// each entry point with what it uses of this module.

/** An MQTT.js-style event emitter: `on`/`once`/`off` and their aliases. */
export class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  on(event, listener) {
    let list = this._listeners.get(event);
    if (!list) this._listeners.set(event, (list = []));
    list.push(listener);
    return this;
  }
  addListener(event, listener) { return this.on(event, listener); }
  once(event, listener) {
    const wrapper = (...args) => { this.off(event, wrapper); listener.apply(this, args); };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }
  off(event, listener) {
    const list = this._listeners.get(event);
    if (!list) return this;
    const i = list.findIndex((l) => l === listener || l.listener === listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }
  removeListener(event, listener) { return this.off(event, listener); }
  removeAllListeners(event) {
    if (event === undefined) this._listeners.clear(); else this._listeners.delete(event);
    return this;
  }
  emit(event, ...args) {
    const list = this._listeners.get(event);
    if (!list || list.length === 0) {
      if (event === 'error' && this._listeners.size > 0) console.error(args[0]);
      return false;
    }
    for (const listener of list.slice()) {
      try { listener.apply(this, args); } catch (error) { queueMicrotask(() => { throw error; }); }
    }
    return true;
  }
}

/** The callback form of a method: `callback(error, value)`, or an `error` event. */
export function settle(promise, callback, client) {
  if (typeof callback === 'function') {
    promise.then((value) => callback(null, value), (error) => callback(error));
    return client;
  }
  promise.catch((error) => client.emit('error', error));
  return client;
}

/** An `MqttError` with a stable `code`. */
export function mqttError(code, message) {
  const error = new Error(message);
  error.name = 'MqttError';
  error.code = code;
  return error;
}

/** Whether MQTT topic filter `filter` matches topic name `topic` ($share/… filters by
 * their topic part; wildcards never match a first level starting with `$`). */
export function topicMatches(filter, topic) {
  if (filter.startsWith('$share/')) filter = filter.split('/').slice(2).join('/');
  const f = filter.split('/');
  const t = topic.split('/');
  if (t[0].startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
