import { createHash } from 'node:crypto';
import type { HttpsResponse } from './https-request.js';
import type { RegistryClient } from './registry-client.js';

/** The registry (or a fault) answered an upload step with an unexpected status. */
export class PushError extends Error {
  readonly code = 'ERR_TEST_PUSH';
}

export interface ChunkedUploadResult {
  digest: string;
  /** Chunks sent again after the registry answered 416 for them. */
  retriedChunks: number;
}

/** How often one chunk may be answered 416 before the upload gives up. */
const MAX_ATTEMPTS_PER_CHUNK = 3;

/**
 * A client that pushes the way the distribution spec allows but skopeo/buildah/podman never
 * do: a blob in several `PATCH` chunks with `Content-Range`, recovering from `416` by asking
 * the upload's status (`GET` on the upload URL → `Range`) and resending from there. Used where
 * a test must control the exact sequence of requests (chunk retry after 416).
 */
export class ChunkedPusher {
  private readonly client: RegistryClient;

  constructor(client: RegistryClient) {
    this.client = client;
  }

  async uploadBlob(repository: string, bytes: Buffer, chunkSize: number): Promise<ChunkedUploadResult> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const started = await this.client.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/` });
    let location = nextLocation(started, 202, 'upload start');
    let offset = 0;
    let retriedChunks = 0;
    let attempts = 0;
    while (offset < bytes.length) {
      const chunk = bytes.subarray(offset, Math.min(offset + chunkSize, bytes.length));
      const response = await this.client.request({
        method: 'PATCH',
        path: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + chunk.length - 1}`,
          'content-length': String(chunk.length),
        },
        body: chunk,
      });
      if (response.status === 416) {
        attempts += 1;
        if (attempts >= MAX_ATTEMPTS_PER_CHUNK)
          throw new PushError(`chunk at ${offset} refused ${attempts} times`);
        retriedChunks += 1;
        const status = await this.client.request({ path: location });
        location = nextLocation(status, 204, 'upload status');
        offset = rangeEnd(status) + 1;
        continue;
      }
      location = nextLocation(response, 202, `chunk at ${offset}`);
      offset += chunk.length;
      attempts = 0;
    }
    const separator = location.includes('?') ? '&' : '?';
    const committed = await this.client.request({
      method: 'PUT',
      path: `${location}${separator}digest=${encodeURIComponent(digest)}`,
      headers: { 'content-length': '0' },
    });
    if (committed.status !== 201) throw new PushError(`upload commit answered ${committed.status}`);
    return { digest, retriedChunks };
  }

  /**
   * A blob whose bytes travel in the closing `PUT …?digest=` (POST to open the session, no
   * PATCH), as go-containerregistry and oras-go do. (distribution 2.8 does not implement the
   * single-request `POST …/uploads/?digest=`: it answers 202 and opens a session instead.)
   */
  async uploadBlobInClosingPut(repository: string, bytes: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const started = await this.client.request({ method: 'POST', path: `/v2/${repository}/blobs/uploads/` });
    const location = nextLocation(started, 202, 'upload start');
    const separator = location.includes('?') ? '&' : '?';
    const response = await this.client.request({
      method: 'PUT',
      path: `${location}${separator}digest=${encodeURIComponent(digest)}`,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      body: bytes,
    });
    if (response.status !== 201) throw new PushError(`upload with closing PUT answered ${response.status}`);
    return digest;
  }

  async putManifest(
    repository: string,
    reference: string,
    body: Buffer,
    mediaType: string,
  ): Promise<HttpsResponse> {
    return this.client.request({
      method: 'PUT',
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { 'content-type': mediaType, 'content-length': String(body.length) },
      body,
    });
  }
}

/** The response's Location (absolute or relative: both are valid), after checking the status. */
function nextLocation(response: HttpsResponse, expected: number, step: string): string {
  if (response.status !== expected) {
    throw new PushError(
      `${step} answered ${response.status}: ${response.body.toString('utf8').slice(0, 300)}`,
    );
  }
  const location = response.headers.location;
  if (location === undefined) throw new PushError(`${step} answered without Location`);
  return location;
}

/** `Range: 0-<end>` of an upload status; -1 when nothing was received yet. */
function rangeEnd(response: HttpsResponse): number {
  const range = response.headers.range;
  const match = typeof range === 'string' ? /^(?:bytes=)?0-(\d+)$/.exec(range) : null;
  return match === null ? -1 : Number(match[1]);
}
