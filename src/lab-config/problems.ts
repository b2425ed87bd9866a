/**
 * What is wrong with a lab config file, each problem with the line it is on. The message never holds a
 * secret's value (tokens are named by their key, never shown).
 */
import { BadRequestError } from '../errors';

export interface ConfigProblem {
  /** 1-based line in the file, when known. */
  line?: number;
  /** Where in the file, e.g. `studies[0].sites[1].usesRedcap`. */
  path?: string;
  message: string;
}

export function describeProblem(problem: ConfigProblem, file?: string): string {
  const where = [file, problem.line !== undefined ? `line ${problem.line}` : undefined].filter(Boolean).join(' ');
  const what = problem.path ? `${problem.path}: ${problem.message}` : problem.message;
  return where ? `${where}: ${what}` : what;
}

/** A lab config that cannot be applied; nothing was changed. */
export class LabConfigError extends BadRequestError {
  constructor(
    readonly problems: ConfigProblem[],
    readonly file?: string,
  ) {
    super(problems.map((problem) => describeProblem(problem, file)).join('; '), { problems });
  }

  /** One line per problem, for a terminal. */
  lines(): string[] {
    return this.problems.map((problem) => describeProblem(problem, this.file));
  }
}

/** `studies[0].sites[1].code` */
export function formatPath(path: ReadonlyArray<string | number>): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}
