import t from 'tap';
import { classifyRoute, type OciRoute, parseRequestTarget } from '../../src/oci/route.js';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;

/** The interesting fields of a route, digests as strings. */
function summary(route: OciRoute): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: route.kind };
  for (const [key, value] of Object.entries(route)) {
    if (key === 'kind' || key === 'reason' || key === 'code') continue;
    if (value && typeof value === 'object' && 'value' in value) out[key] = (value as { value: string }).value;
    else if (value && typeof value === 'object' && 'kind' in value) {
      const ref = value as { kind: string; tag?: string; digest?: { value: string } };
      out[key] = ref.kind === 'tag' ? `tag:${ref.tag}` : `digest:${ref.digest?.value}`;
    } else out[key] = value;
  }
  return out;
}

const table: [string, string, Record<string, unknown>][] = [
  ['GET', '/v2/', { kind: 'ping', endpoint: 'end-1' }],
  ['GET', '/v2', { kind: 'ping', endpoint: 'end-1' }],
  [
    'HEAD',
    `/v2/lab/single/blobs/${D}`,
    { kind: 'blob-read', endpoint: 'end-2', name: 'lab/single', digest: D },
  ],
  ['GET', `/v2/a/b/c/blobs/${D}`, { kind: 'blob-read', endpoint: 'end-2', name: 'a/b/c', digest: D }],
  [
    'GET',
    '/v2/lab/single/manifests/v1',
    { kind: 'manifest-read', endpoint: 'end-3', name: 'lab/single', reference: 'tag:v1' },
  ],
  [
    'HEAD',
    `/v2/lab/single/manifests/${D}`,
    { kind: 'manifest-read', endpoint: 'end-3', name: 'lab/single', reference: `digest:${D}` },
  ],
  ['POST', '/v2/lab/single/blobs/uploads/', { kind: 'upload-start', endpoint: 'end-4a', name: 'lab/single' }],
  ['POST', '/v2/lab/single/blobs/uploads', { kind: 'upload-start', endpoint: 'end-4a', name: 'lab/single' }],
  [
    'POST',
    `/v2/lab/single/blobs/uploads/?digest=${D}`,
    { kind: 'upload-monolithic', endpoint: 'end-4b', name: 'lab/single', digest: D },
  ],
  [
    'POST',
    `/v2/lab/single/blobs/uploads/?digest=${encodeURIComponent(D)}`,
    { kind: 'upload-monolithic', endpoint: 'end-4b', name: 'lab/single', digest: D },
  ],
  [
    'PATCH',
    '/v2/lab/single/blobs/uploads/63fc2fb9-d3ae?_state=abc',
    { kind: 'upload-chunk', endpoint: 'end-5', name: 'lab/single', uuid: '63fc2fb9-d3ae', digest: null },
  ],
  [
    'PUT',
    `/v2/lab/single/blobs/uploads/u1?_state=x&digest=${D}`,
    { kind: 'upload-commit', endpoint: 'end-6', name: 'lab/single', uuid: 'u1', digest: D },
  ],
  [
    'PUT',
    '/v2/lab/single/manifests/v1',
    { kind: 'manifest-put', endpoint: 'end-7', name: 'lab/single', reference: 'tag:v1' },
  ],
  [
    'PUT',
    `/v2/lab/single/manifests/${D}`,
    { kind: 'manifest-put', endpoint: 'end-7', name: 'lab/single', reference: `digest:${D}` },
  ],
  [
    'PUT',
    `/v2/lab/single/manifests/${encodeURIComponent(D)}`,
    { kind: 'manifest-put', endpoint: 'end-7', name: 'lab/single', reference: `digest:${D}` },
  ],
  ['GET', '/v2/lab/single/tags/list', { kind: 'tags-list', endpoint: 'end-8a', name: 'lab/single' }],
  [
    'GET',
    '/v2/lab/single/tags/list?n=10&last=v1',
    { kind: 'tags-list', endpoint: 'end-8b', name: 'lab/single' },
  ],
  [
    'DELETE',
    '/v2/lab/single/manifests/v1',
    { kind: 'manifest-delete', endpoint: 'end-9', name: 'lab/single', reference: 'tag:v1' },
  ],
  [
    'DELETE',
    `/v2/lab/single/blobs/${D}`,
    { kind: 'blob-delete', endpoint: 'end-10', name: 'lab/single', digest: D },
  ],
  [
    'POST',
    `/v2/lab/copy/blobs/uploads/?mount=${D}&from=lab/multi`,
    { kind: 'upload-mount', endpoint: 'end-11', name: 'lab/copy', digest: D, from: 'lab/multi' },
  ],
  [
    'POST',
    `/v2/lab/copy/blobs/uploads/?from=lab%2Fmulti&mount=${encodeURIComponent(D)}`,
    { kind: 'upload-mount', endpoint: 'end-11', name: 'lab/copy', digest: D, from: 'lab/multi' },
  ],
  [
    'POST',
    `/v2/lab/copy/blobs/uploads/?mount=${D}`,
    { kind: 'upload-mount', endpoint: 'end-11', name: 'lab/copy', digest: D, from: null },
  ],
  [
    'GET',
    `/v2/lab/single/referrers/${D}`,
    { kind: 'referrers', endpoint: 'end-12a', name: 'lab/single', digest: D },
  ],
  [
    'GET',
    `/v2/lab/single/referrers/${D}?artifactType=x`,
    { kind: 'referrers', endpoint: 'end-12b', name: 'lab/single', digest: D },
  ],
  [
    'GET',
    '/v2/lab/single/blobs/uploads/u1',
    { kind: 'upload-status', endpoint: 'end-13', name: 'lab/single', uuid: 'u1', digest: null },
  ],
  [
    'DELETE',
    '/v2/lab/single/blobs/uploads/u1',
    { kind: 'upload-cancel', endpoint: null, name: 'lab/single', uuid: 'u1', digest: null },
  ],
  // The last /blobs|manifests|tags|referrers/ segment splits name from rest.
  [
    'GET',
    `/v2/team/blobs/app/blobs/${D}`,
    { kind: 'blob-read', endpoint: 'end-2', name: 'team/blobs/app', digest: D },
  ],
  [
    'PUT',
    '/v2/x/manifests/y/manifests/v1',
    { kind: 'manifest-put', endpoint: 'end-7', name: 'x/manifests/y', reference: 'tag:v1' },
  ],
  ['GET', '/other/path', { kind: 'not-oci' }],
  ['GET', '/v2x/lab', { kind: 'not-oci' }],
  ['GET', '/', { kind: 'not-oci' }],
];

t.test('requests map to distribution-spec endpoints', async (t) => {
  for (const [method, target, expected] of table) {
    t.same(summary(classifyRoute(method, target)), expected, `${method} ${target}`);
  }
});

t.test('malformed OCI requests are invalid routes with a stable code, never exceptions', async (t) => {
  const invalid: [string, string, string][] = [
    ['GET', `/v2/../etc/blobs/${D}`, 'ERR_OCI_NAME'],
    ['PUT', '/v2/lab/%2e%2e/secret/manifests/v1', 'ERR_OCI_NAME'],
    ['PUT', '/v2/lab%2Fx/manifests/v1', 'ERR_OCI_NAME'],
    ['PUT', '/v2/Lab/single/manifests/v1', 'ERR_OCI_NAME'],
    ['PUT', '/v2/lab//single/manifests/v1', 'ERR_OCI_NAME'],
    ['GET', '/v2/lab/single/blobs/sha256:1234', 'ERR_OCI_DIGEST'],
    ['PUT', '/v2/lab/single/manifests/sha256:XYZ', 'ERR_OCI_DIGEST'],
    ['PUT', '/v2/lab/single/manifests/bad:tag:x', 'ERR_OCI_DIGEST'],
    ['PUT', `/v2/lab/single/manifests/${'t'.repeat(200)}`, 'ERR_OCI_REFERENCE'],
    ['PUT', '/v2/lab/single/blobs/uploads/u1', 'ERR_OCI_DIGEST'],
    ['POST', `/v2/lab/single/blobs/uploads/?mount=${D}&from=../x`, 'ERR_OCI_NAME'],
    ['POST', '/v2/lab/single/manifests/v1', 'ERR_OCI_ROUTE'],
    ['GET', '/v2/lab/single/manifests/%zz', 'ERR_OCI_ROUTE'],
    ['GET', '/v2/lab/single/other/thing', 'ERR_OCI_ROUTE'],
    ['POST', '/v2/', 'ERR_OCI_ROUTE'],
    ['PUT', `/v2/lab/single/blobs/${E}`, 'ERR_OCI_ROUTE'],
  ];
  for (const [method, target, code] of invalid) {
    const route = classifyRoute(method, target);
    t.equal(route.kind, 'invalid', `${method} ${target}`);
    t.equal(route.kind === 'invalid' && route.code, code, `${method} ${target} → ${code}`);
  }
});

t.test(
  'a request target is parsed once into what every stage reads: method, path, query, route',
  async (t) => {
    const target = parseRequestTarget('post', `/v2/lab/single/blobs/uploads/?mount=${D}&from=lab/other`);
    t.equal(target.method, 'POST', 'the method upper-cased once');
    t.equal(target.path, '/v2/lab/single/blobs/uploads/');
    t.equal(target.pathname, '/v2/lab/single/blobs/uploads/');
    t.equal(target.query.get('mount'), D);
    t.same(summary(target.route), {
      kind: 'upload-mount',
      endpoint: 'end-11',
      name: 'lab/single',
      digest: D,
      from: 'lab/other',
    });
    // Dot segments: the route is classified from the path as sent; redirects and realms match the resolved one.
    const dotted = parseRequestTarget('GET', '/auth/../token?service=reg&scope=x');
    t.equal(dotted.path, '/auth/../token');
    t.equal(dotted.pathname, '/token');
    t.equal(dotted.route.kind, 'not-oci');
    // A path no URL can hold (a protocol-relative authority that does not parse) has no pathname.
    t.equal(parseRequestTarget('GET', '//[zz/x').pathname, null);
    t.same(
      parseRequestTarget('GET', `/v2/lab/single/manifests/v1`).route,
      classifyRoute('GET', '/v2/lab/single/manifests/v1'),
    );
  },
);
