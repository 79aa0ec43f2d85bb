import { InvalidOptionError } from '../errors.js';

/**
 * One `--push-allow REGISTRY/REPO-PATTERN` rule. REGISTRY is `host` or `host:port` (no port
 * means 443, as in image references); REPO-PATTERN is a repository name in which `*` stands
 * for any characters within one path component and `**` for any characters across
 * components (`team/**` allows `team/app` and `team/tools/app`, not `team`).
 */
export interface PushRule {
  readonly source: string;
  /** Whether a push to this repository of the registry addressed as `authority` (`host:port`) is allowed. */
  allows(authority: string, repository: string): boolean;
}

const HOST = /^([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:(\d{1,5}))?$/;
const REPOSITORY_PATTERN = /^[a-z0-9*]+([._/-][a-z0-9*]+|[*]+)*$/;

export function parsePushRule(option: string, source: string): PushRule {
  const text = source.trim().toLowerCase();
  const slash = text.indexOf('/');
  const registry = slash === -1 ? '' : text.slice(0, slash);
  const pattern = slash === -1 ? '' : text.slice(slash + 1);
  const host = HOST.exec(registry);
  const port = host?.[4] === undefined ? 443 : Number(host[4]);
  if (host === null || port < 1 || port > 65535 || !REPOSITORY_PATTERN.test(pattern)) {
    throw new InvalidOptionError(
      option,
      `"${source}" must be REGISTRY/REPOSITORY-PATTERN, e.g. registry.example:5000/team/* (* within a path component, ** across)`,
    );
  }
  const authority = `${host[1]}:${port}`;
  const repository = compileRepositoryPattern(pattern);
  return {
    source,
    allows: (to, name) => to.toLowerCase() === authority && repository.test(name),
  };
}

function compileRepositoryPattern(pattern: string): RegExp {
  const body = pattern
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.+' : part === '*' ? '[^/]+' : part.replace(/[.]/g, '\\.')))
    .join('');
  return new RegExp(`^${body}$`);
}
