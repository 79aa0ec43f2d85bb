/**
 * Contract tests: our Grafeas client (the sink) and our store, held to the official Grafeas v1
 * protos of @google-cloud/grafeas. Every request sent and every answer given in a real run is
 * matched to its rpc through the google.api.http annotations and read strictly as proto3 JSON.
 * What passes here is what Container Analysis expects on the wire.
 */
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import protobuf from 'protobufjs';
import t from 'tap';
import { GrafeasClient } from '../../src/grafeas/client.js';
import { formatFilter } from '../../src/grafeas/filter.js';
import { MESSAGES, NOTE_KIND, NOTE_KINDS } from '../../src/grafeas/schema.js';
import { GrafeasSink } from '../../src/reporters/grafeas-sink.js';
import { startStore } from '../../src/store/start-store.js';
import { storeCredentials } from '../store/store-tokens.js';
import { tempDir } from '../support/temp-dir.js';
import {
  assertConforms,
  type HttpBinding,
  httpBindings,
  jsonNameOf,
  loadGrafeasProtos,
} from './proto-contract.js';
import { signedReport, statementFor } from './statements.js';

const root = loadGrafeasProtos();
const bindings = httpBindings(root);

t.test('the strict reader refuses what protobufjs alone would let through', async (t) => {
  const occurrence = root.lookupType('grafeas.v1.Occurrence');
  t.doesNotThrow(() => assertConforms(occurrence, { resourceUri: 'x', kind: 'BUILD' }));
  t.throws(
    () => assertConforms(occurrence, { resourceUri: 'x', colour: 'red' }),
    /"colour" is not a field of .grafeas.v1.Occurrence/,
  );
  t.throws(
    () => assertConforms(occurrence, { build: { inTotoSlsaProvenanceV1: { type: 'T' } } }),
    /"type" is not a field/,
    'the JSON name of `type` is `_type`',
  );
  t.throws(
    () => assertConforms(occurrence, { resource_uri: 'x' }),
    /"resource_uri" is not a field/,
    'JSON names only',
  );
  t.throws(() => assertConforms(occurrence, { kind: 'BUILDS' }), /not a value of .grafeas.v1.NoteKind/);
  t.throws(() => assertConforms(occurrence, { envelope: { payload: 'aGk' } }), /standard padded base64/);
  t.throws(() => assertConforms(occurrence, { createTime: '2026-01-01T00:00:00+01:00' }), /RFC 3339 UTC/);
  t.throws(() => assertConforms(occurrence, { build: {}, image: {} }), /both set in oneof details/);
});

t.test('the store validates with a faithful copy of the v1 messages', async (t) => {
  const kindOf = (field: protobuf.Field): string => {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return 'enum';
    if (resolved instanceof protobuf.Type) {
      return (
        {
          '.google.protobuf.Timestamp': 'timestamp',
          '.google.protobuf.Struct': 'struct',
          '.google.protobuf.Value': 'value',
        }[resolved.fullName] ?? 'message'
      );
    }
    return field.type;
  };
  for (const spec of MESSAGES.values()) {
    const type = root.lookupType(spec.fullName);
    const fromProto = type.fieldsArray
      .map((f) => ({
        id: f.id,
        name: f.name,
        jsonName: jsonNameOf(f),
        kind: kindOf(f),
        typeName:
          f.resolvedType && kindOf(f) in { enum: 1, message: 1 }
            ? f.resolvedType.fullName.slice(1)
            : undefined,
        repeated: f.repeated && !(f instanceof protobuf.MapField),
        map: f instanceof protobuf.MapField && (f as protobuf.MapField).keyType === 'string',
        oneof: f.partOf?.name,
      }))
      .sort((a, b) => a.id - b.id);
    const ours = spec.fields
      .map((f) => ({
        id: f.id,
        name: f.name,
        jsonName: f.jsonName,
        kind: f.kind,
        typeName: f.typeName,
        repeated: f.repeated === true,
        map: f.map === true,
        oneof: f.oneof,
      }))
      .sort((a, b) => a.id - b.id);
    t.same(ours, fromProto, spec.fullName);
  }
  const kinds = root.lookupEnum(NOTE_KIND);
  t.same(
    NOTE_KINDS.map((name, i) => [name, i]),
    Object.entries(kinds.values).sort(([, a], [, b]) => a - b),
    NOTE_KIND,
  );
});

interface Exchange {
  method: string;
  path: string;
  query: URLSearchParams;
  requestBody: string;
  status: number;
  responseBody: string;
}

t.test('what the sink and client send, and what the store answers, conform to the protos', async (t) => {
  const dir = await tempDir(t, 'contract');
  const logger = pino({ level: 'silent' });
  // As deployed: the sink holds a writer token for its project, an operator the admin token.
  const writer = {
    name: 'sidecars',
    role: 'writer',
    projects: ['contract'],
    token: 'writer-0123456789abcdef',
  } as const;
  const admin = { name: 'ops', role: 'admin', projects: ['*'], token: 'admin-0123456789abcdef' } as const;
  const store = await startStore({
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: dir,
    credentials: await storeCredentials(dir, [writer, admin]),
    logger,
  });
  t.teardown(() => store.close());

  // A recording relay between the clients and the store: it forwards bytes untouched.
  const exchanges: Exchange[] = [];
  const target = new URL(store.url);
  const relay = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const requestBody = Buffer.concat(chunks);
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          const back: Buffer[] = [];
          answer.on('data', (c: Buffer) => back.push(c));
          answer.on('end', () => {
            const url = new URL(req.url ?? '/', 'http://relay');
            const responseBody = Buffer.concat(back);
            exchanges.push({
              method: req.method ?? '',
              path: url.pathname,
              query: url.searchParams,
              requestBody: requestBody.toString('utf8'),
              status: answer.statusCode ?? 0,
              responseBody: responseBody.toString('utf8'),
            });
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(responseBody);
          });
        },
      );
      upstream.end(requestBody);
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  const url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;

  // The sink, as the proxy uses it: one image, then a build of three, then the same build again.
  const writerTokenFile = join(dir, 'writer-token');
  await writeFile(writerTokenFile, writer.token);
  const sink = new GrafeasSink({ url, project: 'contract', tokenFile: writerTokenFile, logger });
  t.teardown(() => sink.close());
  await sink.deliver(await signedReport('image-1', statementFor(['registry.test:5000/lab/one']), 'image'));
  const build = await signedReport(
    'build-1',
    statementFor(['registry.test:5000/lab/one', 'registry.test:5000/lab/two', 'ghcr.io/org/three']),
  );
  await sink.deliver(build);
  await sink.deliver(build);

  // The rest of the API through the client, including answers that are errors.
  const client = new GrafeasClient({ baseUrl: url, token: async () => admin.token });
  t.teardown(() => client.close());
  await client.batchCreateNotes('contract', {
    extra: {
      kind: 'BUILD',
      build: { builderVersion: 'x' },
      relatedUrl: [{ url: 'https://example.test', label: 'home' }],
    },
    other: { kind: 'BUILD', build: { builderVersion: 'y' }, expirationTime: '2030-01-01T00:00:00Z' },
  });
  await client
    .createNote('contract', 'extra', { kind: 'BUILD', build: { builderVersion: 'x' } })
    .catch(() => undefined);
  const notes = await client.listNotes('contract', { pageSize: 1 });
  await client.listNotes('contract', { pageSize: 1, pageToken: notes.nextPageToken! });
  const listed = await client.listOccurrences('contract', {
    filter: formatFilter([{ field: 'kind', value: 'BUILD' }]),
    pageSize: 2,
  });
  const first = listed.occurrences![0]!;
  await client.getOccurrence(first.name!);
  await client.getOccurrenceNote(first.name!);
  await fetch(`${url}/v1/${first.noteName}/occurrences?pageSize=2`, {
    headers: { authorization: `Bearer ${admin.token}` },
  }).then((r) => r.text());
  // Refusals: no token (401), a writer deleting (403), a forged page token (400).
  await fetch(`${url}/v1/${first.name}`, { method: 'DELETE' }).then((r) => r.text());
  const asWriter = new GrafeasClient({ baseUrl: url, token: async () => writer.token });
  t.teardown(() => asWriter.close());
  await asWriter.deleteOccurrence(first.name!).catch(() => undefined);
  await client
    .listNotes('contract', { pageToken: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
    .catch(() => undefined);
  await client.deleteOccurrence(first.name!);
  await client.getOccurrence(first.name!).catch(() => undefined);

  const seen = new Set<string>();
  for (const exchange of exchanges) {
    const label = `${exchange.method} ${exchange.path}${exchange.query.size ? `?${exchange.query}` : ''} → ${exchange.status}`;
    const binding = bindings.find((b) => b.verb === exchange.method && b.pattern.test(exchange.path));
    if (binding === undefined) {
      t.fail(`${label}: no google.api.http binding of grafeas.v1.Grafeas matches`);
      continue;
    }
    seen.add(binding.rpc);
    t.doesNotThrow(() => checkRequest(binding, exchange), `request ${label}`);
    if (exchange.status >= 200 && exchange.status < 300) {
      t.doesNotThrow(
        () =>
          assertConforms(
            binding.method.resolvedResponseType!,
            JSON.parse(exchange.responseBody),
            `${binding.rpc} answer`,
          ),
        `answer ${label}`,
      );
    } else {
      const body = JSON.parse(exchange.responseBody);
      t.same(Object.keys(body), ['error'], `error ${label}`);
      t.equal(body.error.code, exchange.status, `error code ${label}`);
      t.type(body.error.message, 'string');
      t.type(body.error.status, 'string');
    }
  }
  t.same(
    [...seen].sort(),
    [
      'BatchCreateNotes',
      'BatchCreateOccurrences',
      'CreateNote',
      'CreateOccurrence',
      'DeleteOccurrence',
      'GetNote',
      'GetOccurrence',
      'GetOccurrenceNote',
      'ListNoteOccurrences',
      'ListNotes',
      'ListOccurrences',
    ],
    'every rpc of the subset was exercised',
  );
  t.same(
    [400, 401, 403, 404, 409].filter((status) => exchanges.some((e) => e.status === status)),
    [400, 401, 403, 404, 409],
    'error answers were checked too',
  );
});

/** Query parameters must be fields of the request message not bound elsewhere; the body must be the bound message. */
function checkRequest(binding: HttpBinding, exchange: Exchange): void {
  const request = binding.method.resolvedRequestType!;
  for (const key of new Set(exchange.query.keys())) {
    const field = request.fieldsArray.find((f) => jsonNameOf(f) === key);
    if (
      field === undefined ||
      binding.pathFields.includes(field.name) ||
      binding.body === '*' ||
      field.name === binding.body
    ) {
      throw new Error(`query parameter "${key}" is not a free field of ${request.fullName}`);
    }
    const value = exchange.query.get(key)!;
    if (field.type === 'int32' && !/^-?\d+$/.test(value)) throw new Error(`${key}=${value} is not an int32`);
  }
  if (binding.body === undefined) {
    if (exchange.requestBody !== '') throw new Error(`${binding.rpc} takes no body`);
    return;
  }
  const body = JSON.parse(exchange.requestBody);
  if (binding.body === '*') {
    for (const name of binding.pathFields) {
      if (name in body)
        throw new Error(`"${name}" is bound by the path and must not be repeated in the body`);
    }
    assertConforms(request, body, `${binding.rpc} request`);
    return;
  }
  const field = request.fields[binding.body];
  if (field?.resolvedType instanceof protobuf.Type) {
    assertConforms(field.resolvedType, body, `${binding.rpc} ${binding.body}`);
  } else {
    throw new Error(`${binding.rpc}: body field ${binding.body} is not a message`);
  }
}
