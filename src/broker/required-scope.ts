import { classifyRoute } from '../oci/route.js';

/**
 * The token scopes one registry request needs, and no more: `pull` to read a repository,
 * `pull,push` to write one, `pull` on the source of a cross-repository mount, `delete` to delete.
 * The ping and anything the proxy cannot read a repository from get a token with no scope
 * (enough for `/v2/`, useless elsewhere). null: not a registry API request (left as it is).
 */
export function requiredScopes(method: string, target: string): readonly string[] | null {
  const route = classifyRoute(method.toUpperCase(), target);
  switch (route.kind) {
    case 'not-oci':
      return null;
    case 'ping':
    case 'invalid':
      return [];
    case 'blob-read':
    case 'manifest-read':
    case 'tags-list':
    case 'referrers':
      return [repository(route.name, 'pull')];
    case 'blob-delete':
    case 'manifest-delete':
      return [repository(route.name, 'delete')];
    case 'upload-mount':
      return route.from === null || route.from === route.name
        ? [repository(route.name, 'pull,push')]
        : [repository(route.name, 'pull,push'), repository(route.from, 'pull')];
    case 'manifest-put':
    case 'upload-start':
    case 'upload-monolithic':
    case 'upload-chunk':
    case 'upload-commit':
    case 'upload-status':
    case 'upload-cancel':
      return [repository(route.name, 'pull,push')];
  }
}

function repository(name: string, actions: string): string {
  return `repository:${name}:${actions}`;
}
