/**
 * The `oasis` command: dispatches to one module per subcommand.
 */
import { type Command, ConfigError, EXIT_INTERRUPTED, Interrupted, UsageError } from './command.js';
import { demoCommand } from './demo.js';
import { iperf3Command } from './iperf3.js';
import { pcapCommand } from './pcap.js';
import { replayCommand } from './replay.js';
import { routerCommand } from './router.js';
import { upCommand } from './up.js';

const COMMANDS: Record<string, Command> = {
  demo: demoCommand,
  pcap: pcapCommand,
  up: upCommand,
  replay: replayCommand,
  iperf3: iperf3Command,
  router: routerCommand,
};

function help(): string {
  const lines = ['Usage: oasis <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${c.summary}`);
  lines.push('', "Run 'oasis <command> --help' for a command's options.");
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    console.log('oasis 0.1.0');
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`oasis: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof Interrupted) {
      console.error(`oasis ${name}: ${e.message}`);
      return EXIT_INTERRUPTED;
    }
    if (e instanceof ConfigError) {
      console.error(`oasis ${name}: ${e.message}`);
      return 2;
    }
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      console.error(`oasis ${name}: ${e.message}\n\n${command.usage}`);
      return 2;
    }
    console.error(`oasis ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
