/**
 * Stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects into an app.
 *
 * `@azure/functions` and `durable-functions` end every `app.*` registration in `registerFunction(metadata,
 * handler)` and set their programming model here; the local host captures both and then plays the
 * worker's part (see invoke.ts). Node resolves the module name to this file through the hook in
 * load-app.ts; jest does the same with `moduleNameMapper`.
 */

export interface CapturedFunction {
  metadata: { name: string; bindings: Record<string, BindingInfo>; retryOptions?: unknown };
  handler: (...args: unknown[]) => unknown;
}

export interface BindingInfo {
  type?: string | null;
  direction?: 'in' | 'out' | 'inout' | null;
  [property: string]: unknown;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface CapturedApp {
  functions: Map<string, CapturedFunction>;
  hooks: Map<string, Set<HookCallback>>;
  programmingModel?: ProgrammingModel;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: unknown): InvocationModel;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: CapturedFunction['handler']): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<InvocationResponse>;
}

export interface InvocationResponse {
  invocationId?: string | null;
  outputData?: { name?: string | null; data?: TypedData | null }[] | null;
  returnValue?: TypedData | null;
}

export interface TypedData {
  string?: string | null;
  json?: string | null;
  bytes?: Uint8Array | null;
  http?: Record<string, unknown> | null;
  [k: string]: unknown;
}

/** The worker's own version strings; apps read them only for diagnostics. */
export const version = '3.10.1-trustnet-local';
export const hostVersion = '4.1037.0-trustnet-local';

export class Disposable {
  static from(...items: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  #onDispose: (() => unknown) | undefined;
  constructor(onDispose: () => unknown) {
    this.#onDispose = onDispose;
  }
  dispose(): unknown {
    const f = this.#onDispose;
    this.#onDispose = undefined;
    return f?.();
  }
}

function emptyApp(): CapturedApp {
  return { functions: new Map(), hooks: new Map() };
}

// Registrations land in the app being captured; hooks registered later (at run time) land there too.
let current: CapturedApp = emptyApp();
// @azure/functions sets its model once per loaded copy of the library, so a second app that shares the
// copy (same node_modules) inherits it.
let lastModel: ProgrammingModel | undefined;

/** Starts a fresh capture and returns the object registrations will be written into. */
export function beginCapture(): CapturedApp {
  current = { ...emptyApp(), programmingModel: lastModel };
  return current;
}

export function registerFunction(
  metadata: CapturedFunction['metadata'],
  handler: CapturedFunction['handler'],
) {
  if (current.functions.has(metadata.name)) {
    throw new Error(`A function named "${metadata.name}" is already registered.`);
  }
  const target = current;
  target.functions.set(metadata.name, { metadata, handler });
  return new Disposable(() => target.functions.delete(metadata.name));
}

export function registerHook(name: HookName, callback: HookCallback): Disposable {
  const target = current;
  let set = target.hooks.get(name);
  if (!set) target.hooks.set(name, (set = new Set()));
  set.add(callback);
  return new Disposable(() => set.delete(callback));
}

export function setProgrammingModel(model: ProgrammingModel): void {
  lastModel = model;
  current.programmingModel = model;
}

export function getProgrammingModel(): ProgrammingModel | undefined {
  return current.programmingModel;
}
