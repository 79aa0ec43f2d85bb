/** One request as the registry itself logged it ("response completed", JSON formatter). */
export interface RegistryLogEntry {
  time: string;
  method: string;
  /** Request URI as received: path and query. */
  uri: string;
  path: string;
  query: URLSearchParams;
  status: number;
}

/** Parses the registry's JSON log; other lines (start-up messages, non-JSON) are skipped. */
export function parseRegistryLog(text: string): RegistryLogEntry[] {
  const entries: RegistryLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (record.msg !== 'response completed') continue;
    const uri = String(record['http.request.uri'] ?? '');
    const url = new URL(uri, 'https://registry.invalid');
    entries.push({
      time: String(record.time ?? ''),
      method: String(record['http.request.method'] ?? ''),
      uri,
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      status: Number(record['http.response.status'] ?? 0),
    });
  }
  return entries;
}

export type BlobDisposition = 'uploaded' | 'mounted' | 'present';

/** What the registry saw happen to blobs, per repository → digest → dispositions (a blob can have several over time). */
export interface ObservedBlobs {
  dispositions: Map<string, Map<string, Set<BlobDisposition>>>;
  /** repository → digest → repositories it was mounted from. */
  mountedFrom: Map<string, Map<string, Set<string>>>;
  /** Manifest PUTs the registry answered, in order. */
  manifestPuts: { repository: string; reference: string; status: number }[];
}

const UPLOAD_PATH = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/;
const BLOB_PATH = /^\/v2\/(.+)\/blobs\/([^/]+)$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

/**
 * Derives blob dispositions from the registry's own log, the ground truth for what a proxy
 * should have classified: uploaded = upload committed with `digest=` (201), mounted = mount
 * POST answered 201, present = HEAD answered 200 in that repository.
 */
export function observedBlobs(entries: readonly RegistryLogEntry[]): ObservedBlobs {
  const observed: ObservedBlobs = { dispositions: new Map(), mountedFrom: new Map(), manifestPuts: [] };
  for (const entry of entries) {
    const upload = UPLOAD_PATH.exec(entry.path);
    if (upload !== null) {
      const repository = upload[1] ?? '';
      const digest = entry.query.get('digest');
      const mount = entry.query.get('mount');
      if (entry.method === 'POST' && mount !== null && entry.status === 201) {
        addTo(observed.dispositions, repository, mount, 'mounted');
        const from = entry.query.get('from');
        if (from !== null) addTo(observed.mountedFrom, repository, mount, from);
      } else if (
        (entry.method === 'PUT' || entry.method === 'POST') &&
        digest !== null &&
        entry.status === 201
      ) {
        addTo(observed.dispositions, repository, digest, 'uploaded');
      }
      continue;
    }
    const blob = BLOB_PATH.exec(entry.path);
    if (blob !== null) {
      if (entry.method === 'HEAD' && entry.status === 200)
        addTo(observed.dispositions, blob[1] ?? '', blob[2] ?? '', 'present');
      continue;
    }
    const manifest = MANIFEST_PATH.exec(entry.path);
    if (manifest !== null && entry.method === 'PUT') {
      observed.manifestPuts.push({
        repository: manifest[1] ?? '',
        reference: manifest[2] ?? '',
        status: entry.status,
      });
    }
  }
  return observed;
}

function addTo<T>(map: Map<string, Map<string, Set<T>>>, repository: string, digest: string, value: T): void {
  let byDigest = map.get(repository);
  if (byDigest === undefined) {
    byDigest = new Map();
    map.set(repository, byDigest);
  }
  let values = byDigest.get(digest);
  if (values === undefined) {
    values = new Set();
    byDigest.set(digest, values);
  }
  values.add(value);
}
