// indexedDbStore: a store for options.store that keeps a client's QoS 1 and 2 state in
// IndexedDB, so that a page reload loses no message. build.sh appends this file to the
// client (index.js) for the entry point mqttwire/store, built with the store code:
//
//   import { connect, indexedDbStore } from 'mqttwire/store';
//   const client = connect(url, { clientId: 'me', clean: false, store: indexedDbStore() });

/**
 * A store in the IndexedDB database `name` (default `mqttwire`): one record per client id,
 * replaced whole by each save, in one transaction.
 */
export function indexedDbStore(name = 'mqttwire') {
  let opening = null;
  const open = () => (opening ??= new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available here');
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('state');
    request.onsuccess = () => {
      const db = request.result;
      // Another page upgrading the database: let it, and open again on the next save.
      db.onversionchange = () => { db.close(); opening = null; };
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`IndexedDB database '${name}' is blocked by another page holding it open`));
  }).catch((error) => { opening = null; throw error; }));
  const run = (mode, op) => open().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction('state', mode);
    const request = op(tx.objectStore('state'));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  }));
  return {
    /** The state saved for `clientId`, or undefined. */
    load: (clientId) => run('readonly', (s) => s.get(clientId)),
    /** Replaces the state of `clientId`; resolves once it is committed. */
    save: (clientId, bytes) => run('readwrite', (s) => s.put(bytes, clientId)),
    /** Deletes the state of `clientId`. */
    clear: (clientId) => run('readwrite', (s) => s.delete(clientId)),
  };
}
