import { type CloudRequest, type CloudResponse, armError, timeoutError } from './http';

/**
 * Faults injected into the local cloud, per operation, so tests and people can watch the platform meet
 * Azure's failure modes: throttling, server errors, timeouts, and permanent refusals such as quota.
 *
 * An operation is named `<service>:<operation>`, e.g. `arm:deployments.put`, `arm:resourceGroups.get`,
 * `keyvault:keys.sign`, or for a resource an ARM deployment creates, `arm:deploy:<resource type>` (the
 * deployment then ends Failed with the fault's code). `*` in a name matches anything.
 */

export type FaultKind = 'throttle' | 'server' | 'timeout' | 'quota' | 'error';

export interface FaultSpec {
  operation: string;
  kind: FaultKind;
  /** How many times it fires; omitted means once. `0` means until cleared. */
  count?: number;
  /** throttle: seconds in Retry-After (default 1). */
  retryAfterSeconds?: number;
  /** error: the HTTP status and Azure error code to answer with. */
  status?: number;
  code?: string;
  message?: string;
}

interface ArmedFault extends FaultSpec {
  remaining: number;
  fired: number;
  pattern: RegExp;
}

export const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'server', 'timeout', 'quota', 'error'];

export class FaultSpecError extends Error {
  readonly code = 'FAULT.INVALID';
}

function compile(operation: string): RegExp {
  const escaped = operation.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

/** Checks a fault list as it arrives over HTTP; throws FaultSpecError naming the bad field. */
export function parseFaults(value: unknown): FaultSpec[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((raw, i) => {
    const at = `faults[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw new FaultSpecError(`${at} must be an object.`);
    const f = raw as Record<string, unknown>;
    if (typeof f['operation'] !== 'string' || !/^[a-z]+:\S+$/i.test(f['operation']))
      throw new FaultSpecError(`${at}.operation must look like "arm:deployments.put".`);
    if (!FAULT_KINDS.includes(f['kind'] as FaultKind))
      throw new FaultSpecError(`${at}.kind must be one of ${FAULT_KINDS.join(', ')}.`);
    for (const n of ['count', 'retryAfterSeconds', 'status'] as const)
      if (f[n] !== undefined && (!Number.isInteger(f[n]) || (f[n] as number) < 0))
        throw new FaultSpecError(`${at}.${n} must be a non-negative integer.`);
    if (f['kind'] === 'error' && (typeof f['status'] !== 'number' || typeof f['code'] !== 'string'))
      throw new FaultSpecError(`${at}: kind "error" needs status and code.`);
    return f as unknown as FaultSpec;
  });
}

export class CloudFaults {
  private armed: ArmedFault[] = [];

  set(specs: FaultSpec[]): void {
    this.armed = specs.map((s) => ({
      ...s,
      remaining: s.count === 0 ? Infinity : (s.count ?? 1),
      fired: 0,
      pattern: compile(s.operation),
    }));
  }

  add(specs: FaultSpec[]): void {
    const before = this.armed;
    this.set(specs);
    this.armed = [...before, ...this.armed];
  }

  clear(): void {
    this.armed = [];
  }

  list(): Array<FaultSpec & { remaining: number | 'unlimited'; fired: number }> {
    return this.armed.map(({ pattern: _p, remaining, ...rest }) => ({
      ...rest,
      remaining: remaining === Infinity ? 'unlimited' : remaining,
    }));
  }

  /** The fault to apply to this operation now, if any (and counts it). */
  take(operation: string): FaultSpec | undefined {
    const f = this.armed.find((a) => a.remaining > 0 && a.pattern.test(operation));
    if (!f) return undefined;
    f.remaining -= 1;
    f.fired += 1;
    return f;
  }
}

/**
 * The response (or thrown error, for a timeout) a faulted request gets, shaped as the service answers.
 * `quota` is ARM's QuotaExceeded; Key Vault's equivalent is a 403 it never retries.
 */
export function faultResponse(fault: FaultSpec, request: CloudRequest): CloudResponse {
  switch (fault.kind) {
    case 'throttle':
      return armError(429, 'TooManyRequests', 'The request was throttled by the local cloud (injected).', {
        'retry-after': String(fault.retryAfterSeconds ?? 1),
      });
    case 'server':
      return armError(500, 'InternalServerError', 'The local cloud failed the request (injected).');
    case 'timeout':
      throw timeoutError(request);
    case 'quota':
      return armError(
        409,
        'QuotaExceeded',
        'Operation could not be completed as it results in exceeding approved quota (injected).',
      );
    case 'error':
      return armError(fault.status ?? 400, fault.code ?? 'Error', fault.message ?? 'Injected error.');
  }
}
