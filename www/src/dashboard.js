// mqttwire dashboard: live line charts of `metrics/<host>/<metric>` (one chart per metric,
// one line per host) and a list of `alerts/#`, pushed over MQTT through the bridge.
import { connect } from 'mqttwire';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { brokerUrl, connectionBanner } from './common.js';

const WINDOW_S = 120;
const MAX_POINTS = 600;
const MAX_ALERTS = 50;
const COLORS = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

const $ = (id) => document.getElementById(id);
const decoder = new TextDecoder();
/** Charts by metric name: { hosts: string[], times: number[], values: Map(host -> number[]), plot, box }. */
const charts = new Map();
let received = 0;
let dirty = false;

function parseValue(payload) {
  const text = decoder.decode(payload).trim();
  const number = Number(text);
  if (text !== '' && Number.isFinite(number)) return { value: number, ts: Date.now() };
  try {
    const v = JSON.parse(text);
    if (v && Number.isFinite(v.value)) return { value: v.value, ts: Number.isFinite(v.ts) ? v.ts : Date.now() };
  } catch { /* not JSON */ }
  return null;
}

function chartFor(metric) {
  let chart = charts.get(metric);
  if (chart) return chart;
  const box = document.createElement('figure');
  box.className = 'chart';
  box.dataset.metric = metric;
  box.dataset.points = '0';
  const caption = document.createElement('figcaption');
  caption.textContent = metric;
  box.append(caption);
  $('charts').append(box);
  $('empty').hidden = true;
  chart = { metric, hosts: [], times: [], values: new Map(), plot: null, box, points: 0 };
  charts.set(metric, chart);
  return chart;
}

/** Adds a sample; each chart keeps one time axis, hosts without a sample at a time get null. */
function addSample(metric, host, ts, value) {
  const chart = chartFor(metric);
  if (!chart.values.has(host)) {
    chart.hosts.push(host);
    chart.values.set(host, chart.times.map(() => null));
    if (chart.plot) { chart.plot.destroy(); chart.plot = null; }
  }
  const t = ts / 1000;
  let i = chart.times.length;
  // Samples of one tick from several hosts share a time slot.
  if (i > 0 && Math.abs(chart.times[i - 1] - t) < 0.05) i -= 1;
  else {
    chart.times.push(t);
    for (const series of chart.values.values()) series.push(null);
  }
  chart.values.get(host)[i] = value;
  chart.points += 1;
  const cutoff = t - WINDOW_S;
  let drop = 0;
  while (drop < chart.times.length - 1 && (chart.times[drop] < cutoff || chart.times.length - drop > MAX_POINTS)) drop += 1;
  if (drop > 0) {
    chart.times.splice(0, drop);
    for (const series of chart.values.values()) series.splice(0, drop);
  }
  dirty = true;
}

function draw() {
  if (!dirty) return;
  dirty = false;
  for (const chart of charts.values()) {
    const data = [chart.times, ...chart.hosts.map((h) => chart.values.get(h))];
    const width = Math.max(280, chart.box.clientWidth - 16);
    if (!chart.plot) {
      chart.plot = new uPlot({
        width, height: 220,
        scales: { x: { time: true } },
        series: [{}, ...chart.hosts.map((host, i) => ({
          label: host, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
        }))],
      }, data, chart.box);
    } else {
      chart.plot.setData(data);
      if (Math.abs(chart.plot.width - width) > 4) chart.plot.setSize({ width, height: 220 });
    }
    chart.box.dataset.points = String(chart.points);
  }
}

function addAlert(topic, payload) {
  const text = decoder.decode(payload);
  let level = topic.split('/')[1] ?? 'info';
  let message = text;
  let ts = Date.now();
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object') {
      if (typeof v.level === 'string') level = v.level;
      if (typeof v.message === 'string') message = v.message;
      if (Number.isFinite(v.ts)) ts = v.ts;
    }
  } catch { /* plain text */ }
  const li = document.createElement('li');
  li.className = `alert ${['critical', 'warning', 'info'].includes(level) ? level : 'info'}`;
  const time = document.createElement('time');
  time.textContent = new Date(ts).toLocaleTimeString();
  const what = document.createElement('span');
  what.textContent = message;
  const where = document.createElement('small');
  where.textContent = topic;
  li.append(time, what, where);
  const list = $('alerts');
  list.prepend(li);
  while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
}

const client = connect(brokerUrl(), {
  protocolVersion: 5,
  clientId: `dashboard-${crypto.getRandomValues(new Uint32Array(2)).join('')}`,
  keepalive: 30,
  reconnect: { minDelay: 500, maxDelay: 8000 },
});
connectionBanner(client, $('banner'));
client.on('error', (error) => console.warn('mqttwire:', error.code, error.message));
client.handle('metrics/+/+', (topic, payload) => {
  received += 1;
  const [, host, metric] = topic.split('/');
  const sample = parseValue(payload);
  if (sample) addSample(metric, host, sample.ts, sample.value);
});
client.handle('alerts/#', (topic, payload) => {
  received += 1;
  addAlert(topic, payload);
});
client.subscribeAsync(['metrics/#', 'alerts/#'], { qos: 0 })
  .catch((error) => console.error('subscribe failed', error));

// Redraw at most once per frame, however fast data arrives.
const frame = () => { draw(); requestAnimationFrame(frame); };
requestAnimationFrame(frame);
let last = 0;
setInterval(() => {
  $('count').textContent = received.toLocaleString();
  $('rate').textContent = (received - last).toLocaleString();
  last = received;
}, 1000);
window.addEventListener('resize', () => { dirty = true; });
