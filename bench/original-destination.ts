/**
 * What reading a connection's original destination costs: getsockopt(SO_ORIGINAL_DST)
 * through koffi, on real accepted sockets, per call, beside the cost of accepting a TCP
 * connection at all. Run as root for the REDIRECTed case (BENCH_TARGET=192.0.2.10 BENCH_PORT=P inside a throw-away network
 * namespace with an OUTPUT REDIRECT rule to P); elsewhere it measures the same call on plain
 * loopback connections (the FFI cost is the same: one syscall either way).
 *   node --import tsx bench/original-destination.ts [connections]
 */
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { originalDestination } from '../src/net/original-destination.js';

const connections = Number(process.argv[2] ?? 2000);
const REPEATS_PER_SOCKET = 20;

const loadStart = performance.now();
originalDestination({ _handle: { fd: -1 } });
const bindMs = performance.now() - loadStart;

const perCall: number[] = [];
const perAccept: number[] = [];
let found = 0;
const server = net.createServer((socket) => {
  for (let i = 0; i < REPEATS_PER_SOCKET; i++) {
    const start = performance.now();
    const destination = originalDestination(socket as never);
    perCall.push((performance.now() - start) * 1000);
    if (destination) found++;
  }
  socket.destroy();
});
server.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as net.AddressInfo).port;
const target = process.env.BENCH_TARGET ?? '127.0.0.1';
for (let i = 0; i < connections; i++) {
  const start = performance.now();
  const client = net.connect({ host: target, port: target === '127.0.0.1' ? port : 443 });
  client.on('error', () => {});
  await once(client, 'close');
  perAccept.push((performance.now() - start) * 1000);
}
server.close();

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
console.log(
  JSON.stringify({
    connections,
    callsMeasured: perCall.length,
    originalDestinationFound: found,
    firstBindMs: Number(bindMs.toFixed(2)),
    getsockoptMicros: { p50: quantile(perCall, 0.5).toFixed(2), p99: quantile(perCall, 0.99).toFixed(2) },
    connectAcceptCloseMicros: {
      p50: quantile(perAccept, 0.5).toFixed(1),
      p99: quantile(perAccept, 0.99).toFixed(1),
    },
  }),
);
