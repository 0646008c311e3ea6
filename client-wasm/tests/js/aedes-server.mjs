// A test broker for the browser tests: npm aedes over WebSocket on a free loopback port.
// aedes writes each MQTT packet as several WebSocket messages, so the client must
// reassemble packets across messages. Prints `MQTTWIRE_AEDES_WS=url` and runs until its
// standard input closes.
import http from 'node:http';
import { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';

const aedes = await Aedes.createBroker();
const server = http.createServer();
const wss = new WebSocketServer({
  server,
  path: '/mqtt',
  // A browser that offered a subprotocol drops a connection whose answer lacks it.
  handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
});
wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
process.stdout.write(`MQTTWIRE_AEDES_WS=ws://127.0.0.1:${server.address().port}/mqtt\n`);

const stop = () => {
  for (const client of wss.clients) client.terminate();
  wss.close();
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
