/**
 * The floor for the hot path benchmark: the least a Node.js TLS-intercepting
 * relay can do (terminate TLS, parse HTTP, open verified upstream TLS, pipe both
 * ways) with no hashing, no events, no http-proxy. Run in its own process so its
 * CPU is measured the way the proxy's is. Never used outside bench/.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

const key = process.env.BENCH_KEY!;
const cert = process.env.BENCH_CERT!;
const ca = process.env.BENCH_CA!;
const context = tls.createSecureContext({ key, cert });
const upstream = new https.Agent({ keepAlive: true, ca });
const targets = new WeakMap<object, { host: string; port: number }>();

const inner = http.createServer({ requestTimeout: 0 }, (req, res) => {
  const target = targets.get(req.socket)!;
  const out = https.request(
    {
      host: target.host,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: upstream,
      servername: target.host,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.on('error', () => res.destroy());
  req.pipe(out);
});

const outer = http.createServer();
outer.on('connect', (req, socket, head) => {
  const [host, port] = (req.url ?? '').split(':');
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ['http/1.1'],
  });
  secure.once('secure', () => {
    targets.set(secure, { host: host!, port: Number(port) });
    inner.emit('connection', secure);
  });
  secure.on('error', () => secure.destroy());
});
outer.listen(0, '127.0.0.1', () => {
  const address = outer.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
