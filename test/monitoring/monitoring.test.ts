// deploy/monitoring/: promtool accepts the alert rules, and every metric the rules and the Grafana
// dashboard query is one a real proxy exposes on /metrics (a renamed metric would silently turn
// an alert into one that can never fire).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createTestCa } from '../support/pki.js';
import { startProxy } from '../support/proxy.js';
import { runCommand } from '../support/run-command.js';
import { makeTempDir } from '../support/temp-dir.js';
import { findTool, PROJECT_ROOT } from '../support/tools.js';
import { exposedNames, metricNames } from './support/promql-metrics.js';

const MONITORING = join(PROJECT_ROOT, 'deploy', 'monitoring');
const RULES = join(MONITORING, 'alerts.yaml');

interface Dashboard {
  panels: { title: string; targets?: { expr?: string }[] }[];
  templating?: { list: { name: string; query?: unknown }[] };
}

/** The `expr:` values of the rules file, including folded (`|`, `>-`) blocks. */
function ruleExpressions(yaml: string): string[] {
  const expressions: string[] = [];
  const lines = yaml.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^(\s*)expr:\s*(.*)$/.exec(lines[i]!);
    if (!match) continue;
    const [, indent, rest] = match;
    if (rest !== undefined && !/^[|>]-?$/.test(rest.trim())) {
      expressions.push(rest);
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.startsWith(`${indent}  `) || lines[i + 1]!.trim() === '')) {
      block.push(lines[++i]!);
    }
    expressions.push(block.join('\n'));
  }
  return expressions;
}

const promtool = findTool('promtool');
const noPromtool = "promtool is not installed (scripts/install-test-deps.sh installs Debian's prometheus)";
t.test('promtool check rules', { skip: promtool === undefined ? noPromtool : false }, async (t) => {
  const result = await runCommand(promtool ?? 'promtool', ['check', 'rules', RULES]);
  t.equal(result.code, 0, result.stdout + result.stderr);
  t.match(result.stdout, /SUCCESS: \d+ rules found/);
});

t.test('the name extraction itself', async (t) => {
  t.same(
    metricNames('sum by (sink) (rate(a_total{x="b_total"}[5m])) / on (pod) group_left c_seconds_bucket > 0'),
    ['a_total', 'c_seconds_bucket'],
  );
  t.same(metricNames('histogram_quantile(0.99, sum by (le) (rate(h_bucket[$__rate_interval])))'), [
    'h_bucket',
  ]);
  t.same(metricNames('count(g == 0) or vector(0)'), ['g']);
});

t.test('every metric the rules and the dashboard query exists on /metrics', async (t) => {
  const temp = await makeTempDir('monitoring');
  t.teardown(() => temp.remove());
  const ca = await createTestCa(join(temp.path, 'ca'));
  const proxy = await startProxy({ dir: temp.path, upstreamCaPath: ca.caCertPath });
  t.teardown(() => proxy.stop());
  const exposed = exposedNames(await proxy.metrics());
  t.ok(exposed.size > 20, `the proxy exposes ${exposed.size} metric names`);

  const queries = new Map<string, string[]>();
  const add = (where: string, expression: string) => {
    for (const name of metricNames(expression)) queries.set(name, [...(queries.get(name) ?? []), where]);
  };
  const rules = ruleExpressions(await readFile(RULES, 'utf8'));
  t.ok(rules.length >= 10, `${rules.length} rule expressions`);
  for (const expression of rules) add('alerts.yaml', expression);
  const dashboard = JSON.parse(await readFile(join(MONITORING, 'dashboard.json'), 'utf8')) as Dashboard;
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) if (target.expr) add(`dashboard "${panel.title}"`, target.expr);
  }
  for (const variable of dashboard.templating?.list ?? []) {
    const query = (variable.query as { query?: string } | undefined)?.query;
    const metric = typeof query === 'string' ? /label_values\((\w+)/.exec(query)?.[1] : undefined;
    if (metric !== undefined) add(`dashboard variable ${variable.name}`, metric);
  }
  t.ok(queries.size >= 15, `${queries.size} distinct metrics queried`);
  for (const [name, where] of [...queries].sort()) {
    t.ok(exposed.has(name), `${name} (${[...new Set(where)].join(', ')})`);
  }
});
