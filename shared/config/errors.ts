/** One bad variable found while loading a configuration. */
export interface ConfigIssue {
  /** Name of the environment variable. */
  readonly name: string;
  /** What a valid value looks like. */
  readonly expected: string;
  /** The raw value found (redacted for sensitive fields), or `undefined` when the variable was unset. */
  readonly received: string | undefined;
}

function describe(issue: ConfigIssue): string {
  const got = issue.received === undefined ? "not set" : `got ${JSON.stringify(issue.received)}`;
  return `  ${issue.name}: expected ${issue.expected}, ${got}`;
}

/**
 * Thrown by `loadConfig` when one or more variables are missing or malformed. Its message lists every
 * bad variable at once, so that one failed boot tells the operator everything to fix.
 */
export class ConfigError extends Error {
  /** Every bad variable, in schema order. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const count = issues.length === 1 ? "1 variable" : `${issues.length} variables`;
    super(`invalid configuration (${count}):\n${issues.map(describe).join("\n")}`);
    this.name = "ConfigError";
    this.issues = Object.freeze([...issues]);
  }
}
