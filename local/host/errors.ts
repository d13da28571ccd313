/** A reason the local host cannot start; the message names what to fix (a file, a setting, a function). */
export class HostStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostStartError';
  }
}
