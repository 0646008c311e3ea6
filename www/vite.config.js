// Vite builds the two apps (chat, dashboard) and the landing page into dist/, which
// `mqttwire-bridge --serve www/dist` serves. The mqttwire package needs no plugin: its
// wasm is found with `new URL(..., import.meta.url)`, which Vite copies as an asset.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const root = import.meta.dirname;

export default defineConfig({
  // The linked package's `new URL('..wasm', import.meta.url)` must not be pre-bundled away
  // in `vite dev`.
  optimizeDeps: { exclude: ['mqttwire'] },
  // `npx vite` during development: MQTT goes to a bridge running on the default port.
  server: { proxy: { '/mqtt': { target: 'ws://127.0.0.1:8080', ws: true } } },
  build: {
    target: 'es2022',
    rollupOptions: {
      input: {
        main: resolve(root, 'index.html'),
        chat: resolve(root, 'chat/index.html'),
        dashboard: resolve(root, 'dashboard/index.html'),
      },
    },
  },
});
