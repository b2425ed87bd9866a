/**
 * `${VAR}` in a lab config file is replaced by the environment variable VAR, in values only (not keys,
 * not comments). A variable that is not set is an error naming it and its line; there is no default.
 */
import { visit, type Document, type LineCounter } from 'yaml';
import type { ConfigProblem } from './problems';

const REFERENCE = /\$\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Replaces every `${VAR}` in the document's string values, in place; returns the problems found. */
export function interpolateEnvironment(
  doc: Document,
  env: NodeJS.ProcessEnv,
  lineCounter: LineCounter,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const line = node.range ? lineCounter.linePos(node.range[0]).line : undefined;
      const expanded = expand(node.value, env, (message) => problems.push({ line, message }));
      node.value = expanded;
    },
  });
  return problems;
}

/** `${VAR}` → env.VAR; reports each unset or malformed reference. */
export function expand(value: string, env: NodeJS.ProcessEnv, report: (message: string) => void): string {
  return value.replace(REFERENCE, (reference, name: string) => {
    if (!NAME.test(name)) {
      report(`"${reference}" is not a variable reference (use \${NAME} with letters, digits and _)`);
      return reference;
    }
    const found = env[name];
    if (found === undefined) {
      report(`environment variable ${name} is not set`);
      return reference;
    }
    return found;
  });
}
