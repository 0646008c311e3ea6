// A small consumer of the package, type-checked with `tsc --noEmit` against pkg/index.d.ts:
// the types must accept what users write and reject what they must not.
import { connectAsync, connect, type MqttClient, type PublishPacket, type MqttError } from 'mqttwire';

async function main(): Promise<void> {
  const client: MqttClient = await connectAsync('wss://example.com/mqtt', {
    protocolVersion: 5,
    clientId: 'typed',
    keepalive: 30,
    password: async () => 'token',
    will: { topic: 'presence/typed', payload: 'offline', qos: 1, retain: true, properties: { willDelayInterval: 5 } },
    reconnect: { minDelay: 500, maxDelay: 10_000 },
    properties: { sessionExpiryInterval: 3600, userProperties: { app: 'demo' } },
  });
  client.on('message', (topic: string, payload: Uint8Array, packet: PublishPacket) => {
    const retained: boolean = packet.retain;
    void topic, payload, retained;
  });
  client.on('error', (e: MqttError) => console.log(e.code, e.reasonCode));
  const granted = await client.subscribeAsync('chat/#', { qos: 1, nl: true });
  const qos: 0 | 1 | 2 | 128 = granted[0].qos;
  await client.publishAsync('chat/1', new Uint8Array([1]), { qos: 2, properties: { contentType: 'text/plain' } });
  const stop = client.handle('chat/+', (topic) => topic.length);
  stop();
  const lastId: number | null = client.getLastMessageId();
  void lastId;
  await client.endAsync();
  client.reconnect().on('connect', () => {});
  void qos;
  connect('ws://localhost/mqtt').publish('t', 'x', (error) => error?.code);
  // @ts-expect-error: QoS 3 does not exist
  await client.publishAsync('t', 'x', { qos: 3 });
  // @ts-expect-error: unknown event
  client.on('conect', () => {});
}
void main;
