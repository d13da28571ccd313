/**
 * Some Node 22 releases print an ExperimentalWarning when require() loads an ES module (jose is one).
 * That is expected here, and the CLI's stderr is for its own messages; every other warning still shows.
 * Imported first by the entry, before anything loads jose.
 */
const emitWarning = process.emitWarning.bind(process) as (
  warning: string | Error,
  ...rest: unknown[]
) => void;

process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (/ES Module/.test(text) && /require\(\)/.test(text)) return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;

export {};
