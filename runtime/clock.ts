/**
 * The one place the app reads the time. In Azure it is the system clock; under the local host it is the
 * host's clock (which may be virtual), so HTTP triggers, timers and orchestrations all agree on "now".
 * Orchestrators must not use this: they read context.df.currentUtcDateTime.
 */

const HOST_CLOCK = Symbol.for('trustnet.hostClock');

export interface HostClockHandle {
  now(): number;
  readonly virtual: boolean;
}

function hostClock(): HostClockHandle | undefined {
  return (globalThis as Record<symbol, HostClockHandle | undefined>)[HOST_CLOCK];
}

export function nowMs(): number {
  return hostClock()?.now() ?? Date.now();
}

export function now(): Date {
  return new Date(nowMs());
}

/** True when the local host runs the app (it always installs its clock). */
export function onLocalHost(): boolean {
  return hostClock() !== undefined;
}

export function clockKind(): 'virtual' | 'system' {
  return hostClock()?.virtual ? 'virtual' : 'system';
}

/** Used by the local host (and only by it) to drive the app's time. */
export function installHostClock(clock: HostClockHandle | undefined): void {
  (globalThis as Record<symbol, HostClockHandle | undefined>)[HOST_CLOCK] = clock;
}
