/**
 * The patch table (workflows/patches.ts) and the code hold each other: every `patched`/`deprecatePatch` in workflows/
 * names a row of the table (never a string of its own), every row is called, and each is in the stage that
 * package.json's version gives it (patched before its `deprecated` release, deprecatePatch from then on, gone from
 * its `deleted` release).
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { PATCHES, type PatchLife } from '../../workflows/patches';
import { compareReleases, packageVersion } from '../support/release-versions';

const workflowsDir = path.resolve(__dirname, '..', '..', 'workflows');
const version = packageVersion();

interface PatchCall {
  where: string;
  api: 'patched' | 'deprecatePatch';
  /** The PATCHES key named as `PATCHES.<key>.id`, or the argument's text when it is anything else. */
  key: string | undefined;
  text: string;
}

/** Every call of patched() and deprecatePatch() in workflows/. */
function patchCalls(): PatchCall[] {
  const calls: PatchCall[] = [];
  for (const name of fs.readdirSync(workflowsDir).filter((file) => file.endsWith('.ts'))) {
    const file = path.join(workflowsDir, name);
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node) => {
      if (
        ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        (node.expression.text === 'patched' || node.expression.text === 'deprecatePatch')
      ) {
        const [arg] = node.arguments;
        const named =
          arg &&
          ts.isPropertyAccessExpression(arg) &&
          arg.name.text === 'id' &&
          ts.isPropertyAccessExpression(arg.expression) &&
          ts.isIdentifier(arg.expression.expression) &&
          arg.expression.expression.text === 'PATCHES';
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        calls.push({
          where: `workflows/${name}:${line + 1}`,
          api: node.expression.text,
          key: named ? (arg.expression as ts.PropertyAccessExpression).name.text : undefined,
          text: arg?.getText(source) ?? '',
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return calls;
}

const calls = patchCalls();
const rows = Object.entries(PATCHES) as Array<[string, PatchLife]>;

test('every patched/deprecatePatch in workflows/ names a row of PATCHES, not a string of its own', () => {
  expect(calls.filter((call) => call.key === undefined || !(call.key in PATCHES))).toEqual([]);
});

test('every row of PATCHES is called in workflows/, and no id is listed twice', () => {
  const called = new Set(calls.map((call) => call.key));
  expect(rows.map(([key]) => key).filter((key) => !called.has(key))).toEqual([]);
  const ids = rows.map(([, patch]) => patch.id);
  expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
});

test.each(rows)('%s: added, then deprecated, then deleted, in that order of releases', (_key, patch) => {
  for (const release of [patch.added, patch.deprecated, patch.deleted]) expect(release).toMatch(/^\d+\.\d+\.\d+$/);
  expect(compareReleases(patch.added, patch.deprecated)).toBe(-1);
  expect(compareReleases(patch.deprecated, patch.deleted)).toBe(-1);
});

test.each(rows)(`%s is in the stage release ${version} gives it`, (key, patch) => {
  const apis = [...new Set(calls.filter((call) => call.key === key).map((call) => call.api))];
  if (compareReleases(version, patch.deleted) >= 0)
    throw new Error(`${patch.id} is due for deletion in ${patch.deleted}: remove its call, its old branch and its row`);
  const due = compareReleases(version, patch.deprecated) >= 0 ? 'deprecatePatch' : 'patched';
  expect({ id: patch.id, apis }).toEqual({ id: patch.id, apis: [due] });
});
