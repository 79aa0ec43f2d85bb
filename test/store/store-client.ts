/** A bare HTTP helper for store tests: raw status and JSON, no client-side validation in the way. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  readonly json: any;
}

export async function call(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

export const SHA = (n: number): string => n.toString(16).padStart(64, '0');

export function buildNote(builderVersion = 'provenance-proxy=0.1.0'): Record<string, unknown> {
  return { kind: 'BUILD', shortDescription: 'test builder', build: { builderVersion } };
}

export function buildOccurrence(
  project: string,
  noteId: string,
  image: string,
  n: number,
): Record<string, unknown> {
  const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', n }));
  return {
    resourceUri: `https://${image}@sha256:${SHA(n)}`,
    noteName: `projects/${project}/notes/${noteId}`,
    kind: 'BUILD',
    build: {
      inTotoSlsaProvenanceV1: {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: image, digest: { sha256: SHA(n) } }],
        predicateType: 'https://slsa.dev/provenance/v1',
        predicate: {
          buildDefinition: { buildType: 'https://example.test/build/v1', externalParameters: { n } },
          runDetails: {
            builder: { id: 'https://example.test/builder' },
            metadata: { startedOn: '2026-01-02T03:04:05Z' },
          },
        },
      },
    },
    envelope: {
      payload: payload.toString('base64'),
      payloadType: 'application/vnd.in-toto+json',
      signatures: [{ sig: Buffer.from(`sig-${n}`).toString('base64'), keyid: 'test-key' }],
    },
  };
}
