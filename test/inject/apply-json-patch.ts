import type { JsonPatchOperation } from '../../src/inject/json-patch.js';

/**
 * Applies RFC 6902 `add` operations the way the API server does, to check a patch's effect
 * in unit tests (the cluster tests check it against the real API server).
 */
export function applyJsonPatch<T>(document: T, patch: JsonPatchOperation[]): T {
  const result = structuredClone(document) as unknown;
  for (const operation of patch) {
    if (operation.op !== 'add') throw new Error(`unsupported op ${operation.op}`);
    const tokens = operation.path
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error('empty path');
    let parent = result as Record<string, unknown> | unknown[];
    for (const token of tokens) {
      const next = Array.isArray(parent) ? parent[Number(token)] : parent[token];
      if (typeof next !== 'object' || next === null) throw new Error(`path ${operation.path} does not exist`);
      parent = next as Record<string, unknown>;
    }
    const value = structuredClone(operation.value);
    if (Array.isArray(parent)) {
      if (last === '-') parent.push(value);
      else parent.splice(Number(last), 0, value);
    } else {
      parent[last] = value;
    }
  }
  return result as T;
}
