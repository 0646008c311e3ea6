// A consumer of the entry point mqttwire/store, type-checked with `tsc --noEmit` against
// pkg/store.d.ts: the whole client is there, with the store option and its own stores.
import { connect, connectAsync, indexedDbStore, type Store, type MqttClient } from 'mqttwire/store';

async function main(): Promise<void> {
  const store = indexedDbStore('app');
  const client: MqttClient = await connectAsync('wss://example.com/mqtt', { clientId: 'me', clean: false, store });
  client.on('error', (e) => console.log(e.code === 'STORE_FAILED', e.cause));
  await client.publishAsync('chat/1', 'hello', { qos: 2 });
  await store.clear('me');
  const memory = new Map<string, Uint8Array>();
  const custom: Store = {
    load: async (id) => memory.get(id),
    save: async (id, bytes) => memory.set(id, bytes),
  };
  connect('ws://localhost/mqtt', { clientId: 'other', store: custom });
  // @ts-expect-error: a store needs save
  connect('ws://localhost/mqtt', { clientId: 'x', store: { load: async () => undefined } });
}
void main;
