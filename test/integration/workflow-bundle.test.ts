/**
 * `npm run build:bundle` makes a workflow bundle a worker loads, holding every workflow of workflows/index.ts;
 * and the worker picks its workflow code as src/temporal/workflow-bundle.ts documents.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { workflowSource } from '../../src/temporal/workflow-bundle';
import { eventually } from '../support/processes';
import { connectDevServer } from '../support/temporal';

const root = path.resolve(__dirname, '..', '..');
let bundlePath: string;

beforeAll(() => {
  bundlePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'workflow-bundle-')), 'workflow-bundle.js');
  const build = spawnSync('npm', ['run', '--silent', 'build:bundle', '--', bundlePath], {
    cwd: root,
    encoding: 'utf8',
  });
  if (build.status !== 0)
    throw new Error(`npm run build:bundle failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 120_000);

test('the bundle holds every workflow exported by workflows/index.ts', () => {
  const code = fs.readFileSync(bundlePath, 'utf8');
  const names = Object.entries(workflows)
    .filter(([, value]) => typeof value === 'function')
    .map(([name]) => name);
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) expect(code).toContain(name);
});

test('a worker loads the bundle and polls the dev server', async () => {
  const temporal = await connectDevServer();
  try {
    const worker = await Worker.create({
      connection: temporal.nativeConnection,
      taskQueue: `bundle-${randomUUID()}`,
      workflowBundle: { codePath: bundlePath },
    });
    const running = worker.run();
    await eventually(() => worker.getState() === 'RUNNING', 'the worker to run');
    worker.shutdown();
    await running;
    expect(worker.getState()).toBe('STOPPED');
  } finally {
    await temporal.close();
  }
});

describe('workflowSource', () => {
  test('uses the bundle WORKFLOW_BUNDLE_PATH names', () => {
    const source = workflowSource({ WORKFLOW_BUNDLE_PATH: bundlePath });
    expect(source.workflowBundle).toEqual({ codePath: bundlePath });
    expect(source.workflowsPath).toBeUndefined();
  });

  test('refuses a WORKFLOW_BUNDLE_PATH with no file, naming the variable', () => {
    const missing = path.join(os.tmpdir(), `no-such-bundle-${randomUUID()}.js`);
    expect(() => workflowSource({ WORKFLOW_BUNDLE_PATH: missing })).toThrow(
      /WORKFLOW_BUNDLE_PATH: no workflow bundle at .*no-such-bundle/,
    );
  });

  test('bundles workflows/ at start when running the TypeScript, whatever lies in dist/', () => {
    const source = workflowSource({});
    expect(source.workflowBundle).toBeUndefined();
    expect(source.workflowsPath).toBe(path.join(root, 'workflows', 'index.ts'));
  });
});
