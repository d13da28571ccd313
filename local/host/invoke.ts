import { randomUUID } from 'node:crypto';
import type { CapturedApp, CapturedFunction, InvocationResponse, TypedData } from './functions-core';
import type { HostLogger, LogLevel } from './logger';

/**
 * Plays the Node.js worker's part in one invocation, in the worker's order: the app's own programming
 * model turns RPC-shaped inputs into arguments, preInvocation hooks run, the handler runs, postInvocation
 * hooks run, and the programming model turns the result back into RPC shapes. So bindings, HttpRequest,
 * HttpResponse, cookies and durable payloads behave exactly as the library makes them behave in Azure.
 */

export interface InvocationInput {
  /** Binding name → RPC typed data (the trigger's and any extra inputs'). */
  inputData: { name: string; data: TypedData }[];
  triggerMetadata?: Record<string, TypedData>;
  invocationId?: string;
}

export interface InvocationOutcome {
  invocationId: string;
  response: InvocationResponse;
  /** What the handler returned, before the library serialized it (the durable engine reads it). */
  result: unknown;
}

export class FunctionFailedError extends Error {
  constructor(
    readonly functionName: string,
    readonly invocationId: string,
    override readonly cause: unknown,
  ) {
    super(
      `Function "${functionName}" (invocation ${invocationId}) failed: ${(cause as Error)?.message ?? String(cause)}`,
    );
    this.name = 'FunctionFailedError';
  }
}

export class Invoker {
  readonly appHookData: Record<string, unknown> = {};

  constructor(
    private readonly app: CapturedApp,
    private readonly log: HostLogger,
  ) {}

  async invoke(fn: CapturedFunction, input: InvocationInput): Promise<InvocationOutcome> {
    const invocationId = input.invocationId ?? randomUUID();
    const functionName = fn.metadata.name;
    const coreContext: {
      invocationId: string;
      request: Record<string, unknown>;
      metadata: Record<string, unknown>;
      state?: 'preInvocationHooks' | 'postInvocationHooks' | 'invocation';
      log: (level: LogLevel, category: 'user' | 'system' | 'customMetric', message: string) => void;
    } = {
      invocationId,
      request: {
        invocationId,
        functionId: functionName,
        inputData: input.inputData,
        triggerMetadata: input.triggerMetadata ?? {},
        traceContext: {
          traceParent: `00-${randomUUID().replace(/-/g, '')}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01`,
          attributes: {},
        },
      },
      metadata: { name: functionName, bindings: fn.metadata.bindings },
      log: (level, category, message) =>
        this.log({
          time: new Date().toISOString(),
          level,
          category: category === 'user' ? 'user' : 'system',
          functionName,
          invocationId,
          message,
        }),
    };
    const model = this.app.programmingModel!.getInvocationModel(coreContext);
    const { context, inputs: initialInputs } = await model.getArguments();
    const hookData: Record<string, unknown> = {};

    coreContext.state = 'preInvocationHooks';
    const pre = {
      hookData,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs: initialInputs,
      functionCallback: fn.handler,
    };
    for (const hook of this.app.hooks.get('preInvocation') ?? []) await hook(pre);

    coreContext.state = 'invocation';
    let result: unknown;
    let error: unknown;
    try {
      result = await model.invokeFunction(context, pre.inputs, pre.functionCallback);
    } catch (e) {
      error = e;
    }

    coreContext.state = 'postInvocationHooks';
    const post = {
      hookData,
      appHookData: this.appHookData,
      invocationContext: context,
      inputs: pre.inputs,
      result,
      error,
    };
    for (const hook of this.app.hooks.get('postInvocation') ?? []) await hook(post);
    if (post.error !== undefined && post.error !== null) {
      throw new FunctionFailedError(functionName, invocationId, post.error);
    }
    coreContext.state = undefined;
    const response = await model.getResponse(context, post.result);
    return { invocationId, response, result: post.result };
  }

  async runAppHook(name: 'appStart' | 'appTerminate', functionAppDirectory: string): Promise<void> {
    for (const hook of this.app.hooks.get(name) ?? []) {
      await hook({ hookData: {}, appHookData: this.appHookData, functionAppDirectory });
    }
  }
}
