/** Exit statuses of the trustnet command. */
export const EXIT = {
  ok: 0,
  /** The server refused the request (any answer other than success), or a ballot ended against it. */
  refused: 1,
  /** Bad usage: a missing or malformed argument, an unreadable or invalid file. */
  usage: 2,
  /** The server could not be reached. */
  unreachable: 3,
} as const;

/** A failure the user sees as one `trustnet: …` line on stderr, plus detail lines (schema errors). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly details: string[] = [],
    /** The server's problem code, when the failure is an HTTP problem answer. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

/** Server text shown on a terminal: control characters (escape sequences, newlines) become spaces. */
export function clean(value: unknown): string {
  return Array.from(String(value), (c) => {
    const n = c.codePointAt(0)!;
    return n < 0x20 || (n >= 0x7f && n < 0xa0) ? ' ' : c;
  }).join('');
}
