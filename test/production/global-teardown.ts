import fs from 'node:fs';
import path from 'node:path';

export default async function globalTeardown(): Promise<void> {
  const bundle = process.env.WORKFLOW_BUNDLE_PATH;
  if (bundle?.includes('redcap-scan-monitor-bundle-'))
    fs.rmSync(path.dirname(bundle), { recursive: true, force: true });
}
