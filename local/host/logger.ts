export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

export interface LogRecord {
  time: string;
  level: LogLevel;
  category: 'host' | 'user' | 'system';
  functionName?: string;
  invocationId?: string;
  message: string;
}

export type HostLogger = (record: LogRecord) => void;

const ORDER: LogLevel[] = ['trace', 'debug', 'information', 'warning', 'error', 'critical', 'none'];

/** Prints records at `minimum` and above, one line each, to stderr for warnings and errors. */
export function consoleLogger(minimum: LogLevel = 'information'): HostLogger {
  const floor = ORDER.indexOf(minimum);
  return (r) => {
    if (ORDER.indexOf(r.level) < floor) return;
    const where = r.functionName
      ? ` [${r.functionName}${r.invocationId ? ' ' + r.invocationId.slice(0, 8) : ''}]`
      : '';
    const line = `${r.time} ${r.level.toUpperCase().padEnd(11)}${where} ${r.message}`;
    if (ORDER.indexOf(r.level) >= ORDER.indexOf('warning')) process.stderr.write(line + '\n');
    else process.stdout.write(line + '\n');
  };
}

/** Keeps records in memory: tests read them (to prove, say, that no secret was logged). */
export function memoryLogger(): HostLogger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  return Object.assign((r: LogRecord) => void records.push(r), { records });
}
