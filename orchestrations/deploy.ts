import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { TemplateName } from '../core/provisioning';
import type { DeploymentState, Placement } from '../azure/arm';
import { AzureError } from '../azure/azure-error';
import { getArm, resolveSecrets } from './provisioning-services';

/**
 * One ARM deployment, to the end: started by one activity, then read back by later ones between
 * durable timers, so a 45-minute gateway holds no activity open. Both activities look before they act,
 * so a replay or a host restart finds the deployment already there instead of starting a second one.
 * A permanent failure comes back as a `failed` state; transient ones are retried here and, once the
 * retries are spent, fail this orchestration.
 */
export const DEPLOY_ORCHESTRATOR = 'deployV1';
export const START_DEPLOYMENT = 'deployStartV1';
export const READ_DEPLOYMENT = 'deployReadV1';

export interface DeployInput {
  placement: Placement;
  name: string;
  template: TemplateName;
  /** Values, or `{ secretRef: name }` for a secret the activity reads from the platform vault. */
  parameters: Record<string, unknown>;
  pollMs: number;
  /** ARM validation already ran for this template and these parameters (the access step does it). */
  validated?: boolean;
}

/** Transient Azure errors: 6 tries over about a minute and a half. */
export const azureRetry = new df.RetryOptions(3000, 6);
azureRetry.backoffCoefficient = 2;
azureRetry.maxRetryIntervalInMilliseconds = 30000;

/** An orchestration-side failure once `azureRetry` is spent: the message is all the library hands back. */
export function retriesExhausted(e: unknown): { code: string; message: string } {
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'AZURE.RETRIES_EXHAUSTED', message: message.slice(0, 500) };
}

const deploy: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<DeployInput>();
  let state: DeploymentState = yield context.df.callActivityWithRetry(START_DEPLOYMENT, azureRetry, input);
  while (state.state === 'running') {
    const due = new Date(context.df.currentUtcDateTime.getTime() + input.pollMs);
    yield context.df.createTimer(due);
    state = yield context.df.callActivityWithRetry(READ_DEPLOYMENT, azureRetry, {
      placement: input.placement,
      name: input.name,
    });
  }
  return state;
};

/** Permanent Azure errors become a `failed` state; transient ones throw so the orchestrator retries. */
function settle(e: unknown): DeploymentState {
  if (e instanceof AzureError && !e.transient)
    return { state: 'failed', error: { code: e.code, azureCode: e.azureCode, message: e.message } };
  throw e;
}

export async function startDeployment(input: DeployInput): Promise<DeploymentState> {
  try {
    const parameters = await resolveSecrets(input.parameters);
    return await getArm().startDeployment(input.placement, input.name, input.template, parameters, {
      validated: input.validated === true,
    });
  } catch (e) {
    return settle(e);
  }
}

export async function readDeployment(input: {
  placement: Placement;
  name: string;
}): Promise<DeploymentState> {
  try {
    const state = await getArm().deploymentState(input.placement, input.name);
    return (
      state ?? {
        state: 'failed',
        error: {
          code: 'DEPLOY.NOT_FOUND',
          message: `Deployment ${input.name} is gone: it was deleted while running.`,
        },
      }
    );
  } catch (e) {
    return settle(e);
  }
}

df.app.orchestration(DEPLOY_ORCHESTRATOR, deploy);
df.app.activity(START_DEPLOYMENT, { handler: (input: DeployInput) => startDeployment(input) });
df.app.activity(READ_DEPLOYMENT, {
  handler: (input: { placement: Placement; name: string }) => readDeployment(input),
});
