/** A subcommand of `oasis`: parses its own arguments and returns an exit code. */
export interface Command {
  readonly summary: string;
  readonly usage: string;
  run(args: string[]): Promise<number>;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** A configuration error: printed as one line, without the usage, exit code 2. */
export class ConfigError extends UsageError {}
