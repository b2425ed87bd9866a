/**
 * The workflow bundle the tests' workers load, built once per version of the workflow code and kept under
 * node_modules/.cache: webpack takes seconds, a worker that loads a built bundle does not. The bundle depends only
 * on workflows/, surface/ (what the workflows may import: test/unit/layering.test.ts) and the installed packages
 * (package-lock.json), so those files name it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeWorkflowBundle } from '../../src/temporal/workflow-bundle';

const root = path.resolve(__dirname, '..', '..');
const cacheDir = path.join(root, 'node_modules', '.cache', 'redcap-scan-monitor');
const DAY_MS = 86_400_000;

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir), { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? filesUnder(path.join(dir, entry.name)) : entry.isFile() ? [path.join(dir, entry.name)] : [],
    )
    .sort();
}

/** The path of the bundle of workflows/ as the sources are now (built here if it is not there yet). */
export async function testWorkflowBundle(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [...filesUnder('workflows'), ...filesUnder('surface'), 'package-lock.json'])
    hash
      .update(file)
      .update('\0')
      .update(fs.readFileSync(path.join(root, file)));
  const name = `workflow-bundle-${hash.digest('hex').slice(0, 16)}.js`;
  const codePath = path.join(cacheDir, name);
  if (fs.existsSync(codePath)) return codePath;
  await writeWorkflowBundle(codePath);
  // Bundles of earlier versions of the sources: gone after a day (a test run of that version may still be going).
  for (const old of fs.readdirSync(cacheDir)) {
    const file = path.join(cacheDir, old);
    if (old.startsWith('workflow-bundle-') && Date.now() - fs.statSync(file).mtimeMs > DAY_MS)
      fs.rmSync(file, { force: true });
  }
  return codePath;
}
