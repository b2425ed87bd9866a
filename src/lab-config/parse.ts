/**
 * Reads a lab config file: YAML (with line numbers for every problem), then `${VAR}` from the
 * environment, then the strict schema. All problems are reported at once; nothing is applied from a
 * file with any problem.
 */
import { isMap, isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { ZodIssue } from 'zod';
import { interpolateEnvironment } from './interpolate';
import { formatPath, LabConfigError, type ConfigProblem } from './problems';
import { labConfigSchema, type LabConfig } from './schema';

export type ConfigPath = ReadonlyArray<string | number>;

export interface ParsedLabConfig {
  config: LabConfig;
  /** The file name given to the parser, for messages. */
  file?: string;
  /** The line a value (or the nearest enclosing value) is on. */
  lineOf(path: ConfigPath): number | undefined;
}

export function parseLabConfig(
  source: string,
  options: { env?: NodeJS.ProcessEnv; file?: string } = {},
): ParsedLabConfig {
  const { file } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    // Later syntax errors mostly follow from the first one: report that one.
    const [error] = doc.errors;
    const line = error.linePos?.[0].line ?? lineCounter.linePos(error.pos[0]).line;
    throw new LabConfigError([{ line, message: `not valid YAML: ${firstLine(error.message)}` }], file);
  }
  const lineOf = (path: ConfigPath) => locate(doc, lineCounter, path);

  const missing = interpolateEnvironment(doc, options.env ?? process.env, lineCounter);
  if (missing.length > 0) throw new LabConfigError(missing, file);

  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) {
    throw new LabConfigError(
      [{ line: 1, message: 'the file is empty (expected studies:, users: and/or redcap:)' }],
      file,
    );
  }
  const parsed = labConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => problemsOf(issue, doc, lineCounter));
    throw new LabConfigError(
      problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
      file,
    );
  }
  return { config: parsed.data, file, lineOf };
}

function problemsOf(issue: ZodIssue, doc: Document, lineCounter: LineCounter): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      line: keyLine(doc, lineCounter, issue.path, key) ?? locate(doc, lineCounter, issue.path),
      path: formatPath([...issue.path, key]),
      message: 'unknown key',
    }));
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    // The key is absent: point at the mapping that should hold it.
    return [{ line: locate(doc, lineCounter, issue.path), path: formatPath(issue.path), message: 'is required' }];
  }
  // Zod's own type messages ("Expected string, received number") are put in YAML's words; ours are kept.
  const zodsOwn = issue.code === 'invalid_type' && issue.message.startsWith('Expected ');
  const message = zodsOwn ? `expected ${inYaml(issue.expected)}, found ${inYaml(issue.received)}` : issue.message;
  return [{ line: locate(doc, lineCounter, issue.path), path: formatPath(issue.path) || undefined, message }];
}

/** Zod's JavaScript type names, in YAML's words. */
function inYaml(type: string): string {
  const words: Record<string, string> = {
    object: 'a mapping (key: value)',
    array: 'a list',
    string: 'text',
    number: 'a number',
    boolean: 'true or false',
    null: 'an empty value',
  };
  return words[type] ?? type;
}

/** The line of the node at `path`, or of its nearest ancestor present in the file. */
function locate(doc: Document, lineCounter: LineCounter, path: ConfigPath): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

function keyLine(doc: Document, lineCounter: LineCounter, path: ConfigPath, key: string): number | undefined {
  const map = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (!isMap(map)) return undefined;
  const pair = map.items.find(
    (item) => (isNode(item.key) ? (item.key as { value?: unknown }).value : item.key) === key,
  );
  const range = isNode(pair?.key) ? pair.key.range : undefined;
  return range ? lineCounter.linePos(range[0]).line : undefined;
}

/** yaml's messages end with "at line N, column M:" and a excerpt; the line is reported separately. */
function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}
