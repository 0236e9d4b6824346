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

/** Exit code of a command stopped by SIGINT or SIGTERM before it could finish (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** A start-up cut short by SIGINT or SIGTERM: printed as one line, exit code 130. */
export class Interrupted extends Error {
  constructor(what = 'interrupted') {
    super(what);
  }
}

/** What `stopSignals()` gives: `signal` aborts at the first SIGINT or SIGTERM. */
export interface StopSignals {
  readonly signal: AbortSignal;
  /** Resolves with the signal's name at the first SIGINT or SIGTERM. */
  readonly stopped: Promise<string>;
  /** Gives SIGINT and SIGTERM back their default action. */
  dispose(): void;
}

/**
 * Takes over SIGINT and SIGTERM for a command that holds resources (a TAP, files): the first one
 * aborts `signal`, so the command releases what it opened and exits; a second one, if releasing
 * hangs, exits at once with code 130. Installed before anything is opened, so no signal is lost.
 */
export function stopSignals(): StopSignals {
  const controller = new AbortController();
  let resolveStopped: (name: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    resolveStopped = resolve;
  });
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    controller.abort(new Interrupted(`interrupted by ${name}`));
    resolveStopped(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    stopped,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The message of anything thrown, with a failed child process's stderr when it has one. */
export function errorText(e: unknown): string {
  if (e instanceof Error && 'stderr' in e && e.stderr) return String(e.stderr).trim();
  return e instanceof Error ? e.message : String(e);
}
