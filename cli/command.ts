/** What every `alexnet` subcommand provides. */
export interface Command {
  /** One line for `alexnet --help`. */
  readonly summary: string;
  /** The full text for `alexnet <command> --help`. */
  readonly help: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  readonly run: (argv: string[]) => Promise<number>;
}
