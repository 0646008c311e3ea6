// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Entry point of the browser bundle of npm mqtt-packet for the in-browser codec benchmark
// (bench/codec/browser.mjs bundles it with esbuild, minified, as a browser application
// would): the library and the Buffer implementation it runs on in browsers (npm `buffer`).
import mqttPacket from 'mqtt-packet'
import { Buffer } from 'buffer'

export { mqttPacket, Buffer }
