// mqttwire/store: the mqttwire client with `options.store`, which keeps its QoS 1 and 2
// state across page loads, and `indexedDbStore`. Import everything from here in an app
// that uses a store: it is the whole client, built with the store code that the core
// entry point leaves out.
export * from './index.js';
export { default } from './index.js';

/**
 * Where a client keeps its QoS 1 and 2 state between page loads (the `store` option of
 * `connect`). `indexedDbStore` is one; any object with these methods is another.
 */
export interface Store {
  /** The bytes last saved for `clientId`, or undefined. */
  load(clientId: string): Promise<Uint8Array | undefined>;
  /** Replaces what is saved for `clientId`; resolves once it is committed. */
  save(clientId: string, bytes: Uint8Array): Promise<unknown>;
}

/**
 * A store in IndexedDB, in the database `name` (default `mqttwire`): one record per
 * client id, replaced whole by each save in one transaction.
 */
export function indexedDbStore(name?: string): Store & {
  /** Deletes what is saved for `clientId`. */
  clear(clientId: string): Promise<unknown>;
};
