/**
 * Where a client keeps its QoS 1 and 2 state between page loads (the `store` option of
 * `connect`). `indexedDbStore` is one; any object with these methods is another.
 */
export interface Store {
  /** The bytes last saved for `clientId`, or undefined. */
  load(clientId: string): Promise<Uint8Array | undefined>;
  /** Replaces what is saved for `clientId`; resolves once it is durable. */
  save(clientId: string, bytes: Uint8Array): Promise<unknown>;
}

/** A store in IndexedDB, in the database `name` (default `mqttwire`). */
export function indexedDbStore(name?: string): Store & {
  /** Deletes what is saved for `clientId`. */
  clear(clientId: string): Promise<unknown>;
};
