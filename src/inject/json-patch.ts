/** RFC 6902 operations; the injector only adds (an add on an existing member replaces it). */
export interface JsonPatchOperation {
  op: 'add';
  path: string;
  value: unknown;
}

export function addOperation(path: string, value: unknown): JsonPatchOperation {
  return { op: 'add', path, value };
}

/** One reference token of a JSON Pointer (RFC 6901): "~" and "/" escaped. */
export function pointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
