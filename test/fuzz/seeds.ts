import { createHash } from 'node:crypto';

/** Valid inputs the mutators start from: each is something a real client, registry or proxy sends. */

const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const LAYER = digestOf('layer');
const CONFIG = digestOf('config');

/** Request heads (and bodies) for `target` (absolute-form URL or origin-form path) naming `host`. */
export function requestSeeds(target: (path: string) => string, host: string): string[] {
  const body = '{"hello":"world"}';
  return [
    `GET ${target('/fz/plain')} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n`,
    `PUT ${target('/fz/put')} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    `POST ${target('/v2/fuzz/repo/blobs/uploads/')} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n`,
    `PATCH ${target('/v2/fuzz/repo/blobs/uploads/u1?_state=s')} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/octet-stream\r\nContent-Range: 0-4\r\nContent-Length: 5\r\n\r\nhello`,
    `PUT ${target(`/v2/fuzz/repo/blobs/uploads/u1?digest=${LAYER}`)} HTTP/1.1\r\nHost: ${host}\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n`,
    `GET ${target('/v2/fuzz/repo/manifests/latest')} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\nAuthorization: Bearer secret-token\r\nRange: bytes=0-10\r\n\r\n`,
    `GET ${target('/token?service=registry&scope=repository:fuzz/repo:pull,push')} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    `GET ${target('/ws')} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    `HEAD ${target('/fz/head')} HTTP/1.0\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\nGET ${target('/fz/second')} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  ];
}

export function connectSeeds(authority: string): string[] {
  return [
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`,
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\nUser-Agent: fuzz\r\n\r\n`,
    `CONNECT ${authority} HTTP/1.0\r\n\r\n\x16\x03\x01\x00\x05hello`,
    `CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n`,
  ];
}

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
] as const;

export function manifestSeeds(): { mediaType: string; body: string }[] {
  const ociManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPES[0],
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: CONFIG, size: 6 },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: LAYER, size: 5 },
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: LAYER,
        size: 5,
        urls: ['http://x/'],
      },
    ],
    subject: { mediaType: MANIFEST_TYPES[0], digest: LAYER, size: 5 },
    annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
  };
  const dockerManifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPES[1],
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: CONFIG, size: 6 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: LAYER, size: 5 }],
  };
  const index = (mediaType: string) => ({
    schemaVersion: 2,
    mediaType,
    manifests: [
      {
        mediaType: MANIFEST_TYPES[0],
        digest: LAYER,
        size: 5,
        platform: { architecture: 'amd64', os: 'linux' },
      },
      {
        mediaType: MANIFEST_TYPES[0],
        digest: CONFIG,
        size: 6,
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
      },
    ],
  });
  return [
    { mediaType: MANIFEST_TYPES[0], body: JSON.stringify(ociManifest) },
    { mediaType: MANIFEST_TYPES[1], body: JSON.stringify(dockerManifest, null, 3) },
    { mediaType: MANIFEST_TYPES[2], body: JSON.stringify(index(MANIFEST_TYPES[2])) },
    { mediaType: MANIFEST_TYPES[3], body: JSON.stringify(index(MANIFEST_TYPES[3])) },
  ];
}

export function ociErrorSeeds(): string[] {
  return [
    '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"latest"}}]}',
    '{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"bad"},{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:00"}]}',
    '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"fuzz/repo","Action":"push"}]}]}',
    '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
  ];
}

/** Whole upstream answers (head, body, chunks, trailers), each valid as sent. */
export function responseSeeds(): string[] {
  const manifest = manifestSeeds()[0]!;
  const error = ociErrorSeeds()[0]!;
  return [
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n6;ext=v\r\n world\r\n0\r\nX-T: v\r\n\r\n',
    `HTTP/1.1 200 OK\r\nContent-Type: ${manifest.mediaType}\r\nDocker-Content-Digest: ${digestOf(manifest.body)}\r\nContent-Length: ${manifest.body.length}\r\n\r\n${manifest.body}`,
    `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${error.length}\r\n\r\n${error}`,
    'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="https://localhost/token",service="registry",scope="repository:fuzz/repo:pull"\r\nContent-Length: 0\r\n\r\n',
    `HTTP/1.1 201 Created\r\nLocation: /v2/fuzz/repo/manifests/${LAYER}\r\nDocker-Content-Digest: ${LAYER}\r\nContent-Length: 0\r\n\r\n`,
    'HTTP/1.1 202 Accepted\r\nLocation: /v2/fuzz/repo/blobs/uploads/u2?_state=x\r\nRange: 0-4\r\nDocker-Upload-UUID: u2\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    `HTTP/1.1 307 Temporary Redirect\r\nLocation: https://localhost/blobs/${LAYER}?X-Amz-Signature=secret\r\nContent-Length: 0\r\n\r\n`,
    'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/10\r\nContent-Length: 5\r\n\r\nhello',
    'HTTP/1.0 200 OK\r\n\r\nbody until close',
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello',
  ];
}

/** A registry-looking head for `body`, with the length of the body as sent. */
export function registryHead(
  status: number,
  contentType: string,
  body: Buffer,
  digest: string | null,
): string {
  const reason = status === 200 ? 'OK' : status === 201 ? 'Created' : 'Error';
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${contentType}\r\n${digest ? `Docker-Content-Digest: ${digest}\r\n` : ''}Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: ${body.length}\r\n\r\n`;
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
