// The benchmarks' own settings (BENCH_*), read from the environment. A value that is not what the setting
// takes stops the bench at once with the setting's name and the value, before anything has started:
// a typo must not quietly run another benchmark than the one asked for.

/** A setting's value is not what it takes: settingsOrExit prints the message alone, not a stack. */
class SettingError extends Error {}

/** A number setting; `whole` for counts; at least `min`. */
function numberSetting(name, fallback, { min = 0, whole = true } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (whole && !Number.isInteger(value)) || value < min)
    throw new SettingError(
      `${name} must be ${whole ? 'a whole number' : 'a number'} of at least ${min}, not ${JSON.stringify(raw)}`,
    );
  return value;
}

/** A comma-separated list of whole numbers, each at least `min`. */
function sizesSetting(name, fallback, { min = 1 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (!values.every((v) => Number.isInteger(v) && v >= min))
    throw new SettingError(
      `${name} must list whole numbers of at least ${min}, separated by commas, not ${JSON.stringify(raw)}`,
    );
  return values;
}

/**
 * The bench's settings, read by `read` as it starts: on a SettingError, the message alone (one line) and
 * exit code 2, before anything has started.
 */
function settingsOrExit(read) {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof SettingError)) throw e;
    console.error(e.message);
    process.exit(2);
  }
}

module.exports = { numberSetting, sizesSetting, settingsOrExit, SettingError };
