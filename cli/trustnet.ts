#!/usr/bin/env node
import './require-esm-warning';
import { run, type Io } from './program';

export { run, type Io } from './program';

/** `trustnet`: the command banks use to take part in a TrustNet consortium (see `trustnet --help`). */
if (require.main === module) {
  const io: Io = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    ...(process.stdout.isTTY ? { tty: process.stdout } : {}),
  };
  run(process.argv.slice(2), io).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`trustnet: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
