/** Code-unit order, not locale order: the same bytes on every machine. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Registry, then repository, then digest: the order every list of the record is given in. */
export function compareLocated(
  a: { readonly registry: string; readonly repository: string; readonly digest: string },
  b: { readonly registry: string; readonly repository: string; readonly digest: string },
): number {
  return (
    compareStrings(a.registry, b.registry) ||
    compareStrings(a.repository, b.repository) ||
    compareStrings(a.digest, b.digest)
  );
}
