import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { EXIT } from '../../src/exit-codes.js';
import { curl } from '../support/clients.js';
import { testPki } from '../support/pki.js';
import { ALLOW_LOOPBACK_DESTINATIONS } from '../support/proxy.js';
import { type RunningCommand, startCommand } from '../support/run-command.js';
import { makeTempDirSync } from '../support/temp-dir.js';
import { waitUntil } from '../support/wait-until.js';
import { startOrigin } from './support/origin.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** The CLI from source, through the tests' launcher; `output()` and `waitFor()` read what it printed. */
function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess & Pick<RunningCommand, 'output'> & { waitFor: RunningCommand['waitForOutput'] } {
  const running = startCommand(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, ...env },
    timeoutMs: null,
    // Tests assert what the whole log does not contain (tokens), so nothing is dropped.
    maxCapture: Number.POSITIVE_INFINITY,
  });
  return Object.assign(running.child, { output: running.output, waitFor: running.waitForOutput });
}

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = await once(child, 'exit');
  return code as number | null;
}

interface CliProxy {
  readonly child: ReturnType<typeof cli>;
  readonly data: string;
  readonly port: number;
  readonly proxyUrl: string;
  readonly controlUrl: string;
}

/** `run` on free ports with `data` as its data dir. */
function runOnFreePorts(data: string, extraArgs: string[]): ReturnType<typeof cli> {
  return cli([
    'run',
    '--listen',
    '127.0.0.1:0',
    '--control-listen',
    '127.0.0.1:0',
    '--data-dir',
    data,
    ...extraArgs,
  ]);
}

/** `run` on free ports with a fresh data dir; resolves once its banner names both listeners. */
async function startCliProxy(extraArgs: string[], data = makeTempDirSync('data')): Promise<CliProxy> {
  const child = runOnFreePorts(data, [...ALLOW_LOOPBACK_DESTINATIONS, ...extraArgs]);
  const [banner] = await child.waitFor(
    /listening on http:\/\/127\.0\.0\.1:\d+ \(control http:\/\/127\.0\.0\.1:\d+\)/,
    'stderr',
  );
  const [, port, controlPort] = /:(\d+) \(control http:\/\/127\.0\.0\.1:(\d+)\)/.exec(banner)!;
  return {
    child,
    data,
    port: Number(port),
    proxyUrl: `http://127.0.0.1:${port}`,
    controlUrl: `http://127.0.0.1:${controlPort}`,
  };
}

t.test('invalid options exit non-zero naming the option and the rule', async (t) => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['run', '--listen', 'nonsense'], {}, /--listen.*HOST:PORT/],
    [['run', '--listen', '127.0.0.1:99999'], {}, /--listen.*port 0-65535/],
    [['run', '--ca-cert', '/tmp/x.pem'], {}, /--ca-key.*go together/],
    [['run', '--shutdown-grace', 'soon'], {}, /--shutdown-grace.*duration/],
    [['run', '--tunnel', 'bad host!'], {}, /--tunnel/],
    [['run', '--no-such-option'], {}, /--no-such-option/],
    [['run'], { PROVENANCE_PROXY_LISTEN: 'nope' }, /--listen.*HOST:PORT/],
    [['run', '--upstream-ca', '/nonexistent/ca.pem'], {}, /--upstream-ca.*cannot read/],
  ];
  for (const [args, env, message] of cases) {
    const child = cli(args, env);
    const code = await exitOf(child);
    t.not(code, 0, `${args.join(' ')} fails`);
    t.match(child.output().stderr, message, `${args.join(' ')} explains`);
  }
});

t.test('--help on every command', async (t) => {
  for (const command of [[], ['run'], ['ca']]) {
    const child = cli([...command, '--help']);
    t.equal(await exitOf(child), 0);
    t.match(child.output().stdout, /Usage: provenance-proxy/);
  }
  const run = cli(['run', '--help']);
  await exitOf(run);
  t.match(run.output().stdout, /PROVENANCE_PROXY_UPSTREAM_CA/, 'environment variables are documented');
});

t.test('ca --create writes a CA pair for a Secret, key readable only by the owner', async (t) => {
  const dir = makeTempDirSync('ca');
  const child = cli(['ca', '--create', '--out', dir, '--days', '30']);
  t.equal(await exitOf(child), 0, child.output().stderr);
  t.match(readFileSync(join(dir, 'tls.crt'), 'utf8'), /BEGIN CERTIFICATE/);
  t.match(readFileSync(join(dir, 'tls.key'), 'utf8'), /BEGIN PRIVATE KEY/);
  t.equal(statSync(join(dir, 'tls.key')).mode & 0o777, 0o600);

  // The proxy then uses that CA instead of minting one.
  const { child: proxy, data } = await startCliProxy([
    '--ca-cert',
    join(dir, 'tls.crt'),
    '--ca-key',
    join(dir, 'tls.key'),
  ]);
  t.equal(readFileSync(join(data, 'ca.pem'), 'utf8'), readFileSync(join(dir, 'tls.crt'), 'utf8'));
  proxy.kill('SIGTERM');
  t.equal(await exitOf(proxy), 0);
});

t.test('SIGTERM: stops accepting, lets the in-flight exchange finish, exits 0', async (t) => {
  let release: () => void = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  const origin = await startOrigin({
    handler: (_req, res, done) => {
      void Promise.all([done, released]).then(() => res.end('finished\n'));
    },
  });
  t.teardown(() => origin.close());
  const {
    child: proxy,
    data,
    port,
  } = await startCliProxy(['--upstream-ca', testPki().caPath, '--shutdown-grace', '60s']);
  const inFlight = curl([
    '--proxy',
    `http://127.0.0.1:${port}`,
    '--cacert',
    join(data, 'ca.pem'),
    `${origin.url}/slow`,
  ]);
  await origin.nextRequest();
  const stopping = proxy.waitFor(/shutting down/, 'stdout');
  proxy.kill('SIGTERM');
  await stopping;
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', 'no new connections once draining');
  t.equal(proxy.exitCode, null, 'still running while an exchange is in flight');
  release();
  const res = await inFlight;
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout.toString(), 'finished\n', 'the in-flight exchange completed');
  t.equal(await exitOf(proxy), 0);
});

t.test('journal verify checks the chain the proxy wrote; a tampered line is caught', async (t) => {
  const origin = await startOrigin();
  t.teardown(() => origin.close());
  const { child: proxy, data, port, controlUrl } = await startCliProxy(['--upstream-ca', testPki().caPath]);
  const res = await curl([
    '--proxy',
    `http://127.0.0.1:${port}`,
    '--cacert',
    join(data, 'ca.pem'),
    `${origin.url}/artifact.tar`,
  ]);
  t.equal(res.code, 0, res.stderr);
  // The download is an observation: it shows in the paged journal once durable.
  type Page = { entries: { kind: string; data: { url?: string } }[] };
  const page = await waitUntil(
    async () => {
      const p = (await (
        await fetch(`${controlUrl}/v1/observations?limit=10`, { headers: bearer(generatedToken(data)) })
      ).json()) as Page;
      return p.entries.length > 0 ? p : undefined;
    },
    { what: 'the download in /v1/observations', attempts: 200, intervalMs: 25 },
  );
  t.ok(
    page.entries.some((e) => e.kind === 'oci.artifactDownloaded' && e.data.url?.endsWith('/artifact.tar')),
    'the download is journaled',
  );
  proxy.kill('SIGTERM');
  t.equal(await exitOf(proxy), 0);

  const verify = cli(['journal', 'verify', '--data-dir', data]);
  t.equal(await exitOf(verify), 0, verify.output().stdout + verify.output().stderr);
  const journal = join(data, 'observations.jsonl');
  const text = readFileSync(journal, 'utf8');
  writeFileSync(journal, text.replace('artifact.tar', 'artifact.taz'));
  const broken = cli(['journal', 'verify', '--data-dir', data]);
  t.equal(await exitOf(broken), EXIT.journalBroken.status, 'a changed line breaks the chain');
  t.match(broken.output().stdout + broken.output().stderr, /line 1|hash/i);
});

t.test(
  'control: finalize needs the token; the ephemeral signing key is published and declared',
  async (t) => {
    const tokenFile = join(makeTempDirSync('token'), 'token');
    const token = `tok-${Math.random().toString(36).slice(2)}-${Date.now()}`;
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const { child: proxy, controlUrl: control } = await startCliProxy(['--control-token-file', tokenFile]);
    t.teardown(() => void proxy.kill('SIGKILL'));

    t.equal((await fetch(`${control}/v1/finalize`, { method: 'POST' })).status, 401, 'no token: refused');
    const wrong = await fetch(`${control}/v1/finalize`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope' },
    });
    t.equal(wrong.status, 401, 'wrong token: refused');
    t.equal((await fetch(`${control}/v1/finalize`)).status, 405, 'GET is not a way around it');
    const ok = await fetch(`${control}/v1/finalize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    t.equal(ok.status, 200);
    t.match(await ok.json(), { finalized: true, subjects: 0 });

    const auth = { headers: bearer(token) };
    const key = (await (await fetch(`${control}/v1/public-key`, auth)).json()) as {
      ephemeral: boolean;
      publicKeyPem: string;
      keyid: string;
    };
    t.equal(key.ephemeral, true, 'no --signing-key: an ephemeral key');
    t.match(key.publicKeyPem, /BEGIN PUBLIC KEY/);
    t.notMatch(JSON.stringify(key), /PRIVATE/);
    const statement = (await (await fetch(`${control}/v1/provenance`, auth)).json()) as {
      predicate: {
        buildDefinition: {
          internalParameters: { policy: { signingKey: { ephemeral: boolean; keyid: string } } };
        };
      };
    };
    t.match(
      statement.predicate.buildDefinition.internalParameters.policy.signingKey,
      { ephemeral: true, keyid: key.keyid },
      'the statement itself says its key is ephemeral',
    );
    const logs = proxy.output().stdout;
    t.match(logs, /ephemeral key that proves nothing beyond this pod/, 'and the log warns');
    t.notOk(logs.includes(token), 'the control token never reaches the logs');
    proxy.kill('SIGTERM');
    t.equal(await exitOf(proxy), 0);
  },
);

t.test('control: every /v1 read needs the token; health, metrics and the CA stay open', async (t) => {
  const { child: proxy, data, controlUrl: control } = await startCliProxy([]);
  t.teardown(() => void proxy.kill('SIGKILL'));
  const tokenPath = join(data, 'control-token');
  t.equal(statSync(tokenPath).mode & 0o777, 0o600, 'no --control-token-file: one is generated, 0600');
  const token = generatedToken(data);
  t.ok(token.length >= 40, 'with 256 random bits');
  t.match(
    proxy.output().stderr,
    `control token: ${tokenPath} (generated for this run)`,
    'the banner says where',
  );
  for (const path of [
    '/v1/images',
    '/v1/provenance',
    '/v1/provenance?format=dsse',
    '/v1/observations',
    '/v1/public-key',
  ]) {
    for (const headers of [{}, bearer(`${token}x`), bearer(token.slice(0, -1)), { authorization: token }]) {
      const answer = await fetch(`${control}${path}`, { headers });
      t.equal(answer.status, 401, `${path} ${JSON.stringify(Object.keys(headers))}`);
      t.match(answer.headers.get('www-authenticate'), /^Bearer/);
      t.notMatch(await answer.text(), /payloadType|BEGIN PUBLIC KEY|predicate/, 'and nothing of the record');
    }
    t.equal(
      (await fetch(`${control}${path}`, { headers: bearer(token) })).status,
      200,
      `${path} with the token`,
    );
  }
  t.equal((await fetch(`${control}/v1/finalize`, { method: 'POST' })).status, 401, 'finalize too');
  for (const query of [`access_token=${token}`, `token=${token}`]) {
    t.equal(
      (await fetch(`${control}/v1/images?${query}`)).status,
      401,
      'a token in the query is not a credential',
    );
  }
  t.equal(
    (await fetch(`${control}/v1/images`, { headers: { authorization: `bearer ${token}` } })).status,
    200,
    'the scheme is case-insensitive (RFC 9110)',
  );
  for (const path of ['/healthz', '/readyz', '/metrics', '/ca.pem']) {
    t.equal((await fetch(`${control}${path}`)).status, 200, `${path} is open`);
  }
  proxy.kill('SIGTERM');
  t.equal(await exitOf(proxy), 0);
  t.notOk(proxy.output().stdout.includes(token), 'the generated token never reaches the logs');

  const again = await startCliProxy([], data);
  t.teardown(() => void again.child.kill('SIGKILL'));
  t.not(generatedToken(data), token, 'a restart mints a new token');
  t.equal(
    (await fetch(`${again.controlUrl}/v1/images`, { headers: bearer(token) })).status,
    401,
    'the old one no longer opens /v1',
  );
  again.child.kill('SIGTERM');
  t.equal(await exitOf(again.child), 0);
});

function generatedToken(data: string): string {
  return readFileSync(join(data, 'control-token'), 'utf8').trim();
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

t.test('control: the read token opens the read-only views and nothing else', async (t) => {
  const dir = makeTempDirSync('read-token');
  const readToken = `read-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const readTokenFile = join(dir, 'read-token');
  writeFileSync(readTokenFile, `${readToken}\n`, { mode: 0o600 });
  const {
    child: proxy,
    data,
    controlUrl: control,
  } = await startCliProxy(['--control-read-token-file', readTokenFile]);
  t.teardown(() => void proxy.kill('SIGKILL'));
  const token = generatedToken(data);

  for (const path of ['/v1/images', '/v1/provenance', '/v1/observations', '/v1/public-key']) {
    const answer = await fetch(`${control}${path}`, { headers: bearer(readToken) });
    t.equal(answer.status, 200, `${path} with the read token`);
    t.match(await answer.json(), {}, 'and a JSON view');
  }
  // What a build holding a stolen read token would try: sign on demand, finalize, spell dsse otherwise.
  for (const path of [
    '/v1/provenance?format=dsse',
    '/v1/provenance?format=json&format=dsse',
    '/v1/provenance?format=dsse&format=json',
  ]) {
    const answer = await fetch(`${control}${path}`, { headers: bearer(readToken) });
    const body = await answer.text();
    // The second spelling reads as unsigned (searchParams.get takes the first), so it is a read.
    if (path.includes('format=json&')) {
      t.equal(answer.status, 200, `${path}: the first format wins, unsigned`);
      t.notMatch(body, /payloadType|signatures/, 'and nothing signed');
      continue;
    }
    t.equal(answer.status, 403, `${path}: the read token does not sign`);
    t.match(JSON.parse(body), { error: { code: 'ERR_FORBIDDEN' } });
    t.notMatch(body, /payloadType|signatures|predicate/, 'and nothing of the record');
  }
  const finalize = await fetch(`${control}/v1/finalize`, { method: 'POST', headers: bearer(readToken) });
  t.equal(finalize.status, 403, 'the read token does not finalize');
  t.equal(
    (await fetch(`${control}/v1/images`, { headers: bearer(readToken) })).status,
    200,
    'and the record stays open (not finalized) after the refusal',
  );

  for (const headers of [
    bearer(`${readToken}x`),
    bearer(readToken.slice(0, -1)),
    { authorization: 'Bearer ' },
    { authorization: readToken },
  ]) {
    for (const path of ['/v1/images', '/v1/provenance']) {
      const answer = await fetch(`${control}${path}`, { headers });
      t.equal(answer.status, 401, `${path}: a wrong or empty read token is refused`);
    }
  }

  // The control token still does everything.
  for (const path of ['/v1/images', '/v1/provenance', '/v1/provenance?format=dsse', '/v1/public-key']) {
    t.equal((await fetch(`${control}${path}`, { headers: bearer(token) })).status, 200, `${path}: control`);
  }
  const signed = (await (
    await fetch(`${control}/v1/provenance?format=dsse`, { headers: bearer(token) })
  ).json()) as { payloadType: string };
  t.equal(signed.payloadType, 'application/vnd.in-toto+json', 'the control token gets a signed snapshot');
  t.equal(
    (await fetch(`${control}/v1/finalize`, { method: 'POST', headers: bearer(token) })).status,
    200,
    'and finalizes',
  );
  proxy.kill('SIGTERM');
  t.equal(await exitOf(proxy), 0);
  const { stdout, stderr } = proxy.output();
  t.notOk(stdout.includes(readToken) || stderr.includes(readToken), 'the read token never reaches the logs');

  // A read token equal to the control token would hand out finalize and signing: refused at start.
  const same = runOnFreePorts(makeTempDirSync('data'), [
    '--control-token-file',
    readTokenFile,
    '--control-read-token-file',
    readTokenFile,
  ]);
  t.not(await exitOf(same), 0, 'the read token may not be the control token');
  t.match(same.output().stderr, /--control-read-token-file.*differ/);
  t.notOk(same.output().stderr.includes(readToken), 'and the refusal does not print it');
});
