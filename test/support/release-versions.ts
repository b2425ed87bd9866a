/** Release versions (x.y.z, as package.json has them): this checkout's, and their order. */
import fs from 'node:fs';
import path from 'node:path';

/** package.json's version: the release this checkout is, or is the development of. */
export const packageVersion = (): string =>
  (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string })
    .version;

/** -1, 0 or 1 as release a is older than, the same as or newer than b. */
export function compareReleases(a: string, b: string): number {
  const [x, y] = [a, b].map((release) => release.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return Math.sign(x[i] - y[i]);
  return 0;
}
