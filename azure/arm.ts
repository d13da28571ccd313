import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import type { HttpClient } from '@azure/core-rest-pipeline';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient, type SecurityRule } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { DeploymentsClient, type DeploymentExtended } from '@azure/arm-resourcesdeployments';
import type { TemplateName } from '../core/provisioning';
import { AzureError, toAzureError, upperSnake } from './azure-error';
import type { ArmWriteBudget } from './arm-budget';

/**
 * Resource Manager, as provisioning needs it: access checks, template deployments started in one call
 * and read back in later ones (so no activity waits 45 minutes for a gateway), NSG rules, deletes.
 * Every SDK error leaves here as an AzureError.
 */

export interface ArmOptions {
  credential: TokenCredential;
  httpClient?: HttpClient;
  retryOptions?: { maxRetries: number; retryDelayInMs: number; maxRetryDelayInMs: number };
  budget?: ArmWriteBudget;
  /**
   * How often an SDK poller re-reads a long operation when Azure gives no Retry-After (the SDK's own
   * default is 2 s). Azure's Retry-After, when given, wins.
   */
  lroPollMs?: number;
}

export interface Placement {
  subscriptionId: string;
  resourceGroup: string;
}

export type DeploymentState =
  | { state: 'running'; started: boolean }
  | { state: 'succeeded'; outputs: Record<string, unknown>; resources: string[] }
  | { state: 'failed'; error: { code: string; azureCode?: string; message: string } };

export interface PlannedChange {
  resourceId: string;
  changeType: string;
}

const templates = new Map<TemplateName, object>();

/** The ARM JSON twin of a Bicep template (bicep/compiled/), which is what the platform deploys. */
export function loadTemplate(name: TemplateName): object {
  let t = templates.get(name);
  if (!t) {
    // dist/azure/arm.js and azure/arm.ts both sit two levels below the package root.
    const file = join(__dirname, '..', '..', 'bicep', 'compiled', `${name}.json`);
    const alt = join(__dirname, '..', 'bicep', 'compiled', `${name}.json`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = readFileSync(alt, 'utf8');
    }
    t = JSON.parse(text) as object;
    templates.set(name, t);
  }
  return t;
}

function asParameters(values: Record<string, unknown>): Record<string, { value: unknown }> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v }]));
}

function flattenOutputs(outputs: unknown): Record<string, unknown> {
  if (!outputs || typeof outputs !== 'object') return {};
  return Object.fromEntries(
    Object.entries(outputs as Record<string, { value?: unknown }>).map(([k, v]) => [k, v?.value]),
  );
}

function stateOf(d: DeploymentExtended): DeploymentState {
  const p = d.properties;
  switch (p?.provisioningState) {
    case 'Succeeded':
      return {
        state: 'succeeded',
        outputs: flattenOutputs(p.outputs),
        resources: (p.outputResources ?? []).map((r) => r.id ?? '').filter(Boolean),
      };
    case 'Failed':
    case 'Canceled': {
      const err = p.error;
      const inner = err?.details?.find((x) => x.code) ?? err;
      const azureCode = inner?.code ?? err?.code ?? p.provisioningState;
      return {
        state: 'failed',
        error: {
          code: `DEPLOY.${upperSnake(azureCode)}`,
          azureCode,
          message: `Deployment ${d.name ?? ''} ${p.provisioningState.toLowerCase()}: ${inner?.message ?? err?.message ?? 'no reason given'}`,
        },
      };
    }
    default:
      return { state: 'running', started: false };
  }
}

/** The API version bicep/member-node.bicep deploys scale set extensions with. */
export const EXTENSION_API_VERSION = '2024-11-01';

export function scaleSetExtensionId(p: Placement, scaleSet: string, name: string): string {
  return `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet}/extensions/${name}`;
}

/** What ARM is sent to deploy, validate or what-if a template: incremental, so nothing else is removed. */
function deploymentBody(template: TemplateName, parameters: Record<string, unknown>) {
  return {
    properties: {
      mode: 'Incremental' as const,
      template: loadTemplate(template),
      parameters: asParameters(parameters),
    },
  };
}

/** The inbound rule that lets one member's nodes reach another's Corda P2P port. */
function p2pRule(sourcePrefix: string, priority: number): SecurityRule {
  return {
    protocol: 'Tcp',
    access: 'Allow',
    direction: 'Inbound',
    priority,
    sourceAddressPrefix: sourcePrefix,
    sourcePortRange: '*',
    destinationAddressPrefix: 'VirtualNetwork',
    destinationPortRange: '10002',
    description: 'Corda P2P from a consortium member (TrustNet)',
  };
}

export class Arm {
  private readonly clients = new Map<string, unknown>();

  constructor(private readonly options: ArmOptions) {}

  /** Options for an SDK call that waits for a long operation. */
  private lro(): { updateIntervalInMs?: number } {
    return this.options.lroPollMs === undefined ? {} : { updateIntervalInMs: this.options.lroPollMs };
  }

  private client<T>(kind: string, subscriptionId: string, make: (opts: object) => T): T {
    const key = `${kind}|${subscriptionId}`;
    let c = this.clients.get(key) as T | undefined;
    if (!c) {
      c = make({
        httpClient: this.options.httpClient,
        retryOptions: this.options.retryOptions,
      });
      this.clients.set(key, c);
    }
    return c;
  }

  private resources(sub: string) {
    return this.client('res', sub, (o) => new ResourceManagementClient(this.options.credential, sub, o));
  }

  private deployments(sub: string) {
    return this.client('dep', sub, (o) => new DeploymentsClient(this.options.credential, sub, o));
  }

  private network(sub: string) {
    return this.client('net', sub, (o) => new NetworkManagementClient(this.options.credential, sub, o));
  }

  private compute(sub: string) {
    return this.client('cmp', sub, (o) => new ComputeManagementClient(this.options.credential, sub, o));
  }

  private async write(sub: string): Promise<void> {
    await this.options.budget?.take(sub);
  }

  /**
   * The bank's resource group exists and the platform may act in it (the bank delegated it). Answers
   * the group's region.
   */
  async checkAccess(p: Placement): Promise<{ location: string }> {
    try {
      const rg = await this.resources(p.subscriptionId).resourceGroups.get(p.resourceGroup);
      return { location: rg.location };
    } catch (e) {
      const err = toAzureError(`read resource group ${p.resourceGroup}`, e);
      if (err.code === 'AZURE.NOT_FOUND')
        throw new AzureError(
          'ACCESS.RESOURCE_GROUP_NOT_FOUND',
          `Resource group ${p.resourceGroup} does not exist in subscription ${p.subscriptionId}: the bank ` +
            'creates it and delegates it to the platform (bicep/delegation.bicep) before provisioning.',
          { ...err.detail },
        );
      if (err.code === 'AZURE.FORBIDDEN')
        throw new AzureError(
          'ACCESS.DENIED',
          `The platform may not act in resource group ${p.resourceGroup} of subscription ${p.subscriptionId}: ` +
            'the bank has not delegated it (bicep/delegation.bicep), or withdrew the delegation.',
          { ...err.detail },
        );
      throw err;
    }
  }

  /** The deployment's state, or undefined when there is none by that name. */
  async deploymentState(p: Placement, name: string): Promise<DeploymentState | undefined> {
    try {
      return stateOf(await this.deployments(p.subscriptionId).deployments.get(p.resourceGroup, name));
    } catch (e) {
      const err = toAzureError(`read deployment ${name}`, e);
      if (err.code === 'AZURE.NOT_FOUND' && err.azureCode !== 'ResourceGroupNotFound') return undefined;
      throw err;
    }
  }

  /**
   * Starts the deployment unless one by that name is running or has succeeded: a replayed or retried
   * step never deploys twice. A failed one is deployed again (that is what a retry is for).
   */
  async startDeployment(
    p: Placement,
    name: string,
    template: TemplateName,
    parameters: Record<string, unknown>,
    options: { validated?: boolean } = {},
  ): Promise<DeploymentState> {
    const existing = await this.deploymentState(p, name);
    if (existing && existing.state !== 'failed') return existing;
    // ARM's own checks first, unless the caller ran them up front: a bad parameter fails the step
    // before anything is created.
    if (!options.validated) await this.validate(p, name, template, parameters);
    await this.write(p.subscriptionId);
    try {
      const poller = this.deployments(p.subscriptionId).deployments.createOrUpdate(
        p.resourceGroup,
        name,
        deploymentBody(template, parameters),
      );
      await poller.submitted();
    } catch (e) {
      throw toAzureError(`start deployment ${name}`, e);
    }
    return { state: 'running', started: true };
  }

  /** ARM's validation of template and parameters, without creating anything. */
  async validate(p: Placement, name: string, template: TemplateName, parameters: Record<string, unknown>) {
    await this.write(p.subscriptionId);
    try {
      const result = await this.deployments(p.subscriptionId).deployments.validate(
        p.resourceGroup,
        name,
        deploymentBody(template, parameters),
        this.lro(),
      );
      if (result.error)
        throw new AzureError(
          `DEPLOY.${upperSnake(result.error.code ?? 'InvalidTemplate')}`,
          `Validation of ${name} failed: ${result.error.message ?? ''}`,
          { azureCode: result.error.code, transient: false },
        );
    } catch (e) {
      throw toAzureError(`validate deployment ${name}`, e);
    }
  }

  /** What the deployment would change (ARM what-if). */
  async whatIf(
    p: Placement,
    name: string,
    template: TemplateName,
    parameters: Record<string, unknown>,
  ): Promise<PlannedChange[]> {
    try {
      const result = await this.deployments(p.subscriptionId).deployments.whatIf(
        p.resourceGroup,
        name,
        deploymentBody(template, parameters),
        this.lro(),
      );
      if (result.error)
        throw new AzureError(
          'DEPLOY.WHAT_IF_FAILED',
          `What-if of ${name} failed: ${result.error.message ?? ''}`,
          {
            azureCode: result.error.code,
            transient: false,
          },
        );
      return (result.changes ?? []).map((c) => ({
        resourceId: c.resourceId ?? '',
        changeType: c.changeType,
      }));
    } catch (e) {
      throw toAzureError(`what-if deployment ${name}`, e);
    }
  }

  /**
   * Admits `sourcePrefix` to Corda P2P (10002) on a member's NSG; idempotent by rule name. `until`
   * `accepted` returns once Azure has taken the rule (applying it takes seconds more; `ruleState` reads
   * it), so a fan-out over 100 members holds no worker while the rules apply; `applied` waits for it.
   */
  async admitP2p(
    p: Placement,
    nsg: string,
    rule: string,
    sourcePrefix: string,
    priority: number,
    until: 'accepted' | 'applied' = 'applied',
  ): Promise<void> {
    await this.write(p.subscriptionId);
    try {
      const poller = this.network(p.subscriptionId).securityRules.createOrUpdate(
        p.resourceGroup,
        nsg,
        rule,
        p2pRule(sourcePrefix, priority),
        this.lro(),
      );
      await (until === 'accepted' ? poller.submitted() : poller);
    } catch (e) {
      throw toAzureError(`admit ${sourcePrefix} on ${nsg}`, e);
    }
  }

  /** Where a security rule stands: applied, still applying, failed, or not there at all. */
  async ruleState(
    p: Placement,
    nsg: string,
    rule: string,
  ): Promise<'succeeded' | 'running' | 'failed' | 'missing'> {
    try {
      const r = await this.network(p.subscriptionId).securityRules.get(p.resourceGroup, nsg, rule);
      const state = (r.provisioningState ?? 'Succeeded').toLowerCase();
      if (state === 'succeeded') return 'succeeded';
      if (state === 'failed' || state === 'canceled') return 'failed';
      return 'running';
    } catch (e) {
      const err = toAzureError(`read rule ${rule} on ${nsg}`, e);
      if (err.code === 'AZURE.NOT_FOUND') return 'missing';
      throw err;
    }
  }

  async removeRule(p: Placement, nsg: string, rule: string): Promise<void> {
    await this.write(p.subscriptionId);
    try {
      await this.network(p.subscriptionId).securityRules.delete(p.resourceGroup, nsg, rule, this.lro());
    } catch (e) {
      const err = toAzureError(`remove rule ${rule} from ${nsg}`, e);
      if (err.code !== 'AZURE.NOT_FOUND') throw err;
    }
  }

  /**
   * A VPN gateway's SKU name and generation as Azure reports them; undefined when there is no gateway by
   * that name. Reads only: the plan asks this of every member before a resize.
   */
  async gatewaySku(
    p: Placement,
    gateway: string,
  ): Promise<{ sku: string; generation?: string; provisioningState: string } | undefined> {
    try {
      const g = await this.network(p.subscriptionId).virtualNetworkGateways.get(p.resourceGroup, gateway);
      return {
        sku: String(g.sku?.name ?? ''),
        ...(g.vpnGatewayGeneration ? { generation: String(g.vpnGatewayGeneration) } : {}),
        provisioningState: String(g.provisioningState ?? 'Succeeded'),
      };
    } catch (e) {
      const err = toAzureError(`read gateway ${gateway}`, e);
      if (err.code === 'AZURE.NOT_FOUND' && err.azureCode !== 'ResourceGroupNotFound') return undefined;
      throw err;
    }
  }

  /** Sets a scale set's VM count. */
  async setCapacity(p: Placement, scaleSet: string, capacity: number): Promise<void> {
    await this.write(p.subscriptionId);
    try {
      await this.compute(p.subscriptionId).virtualMachineScaleSets.update(
        p.resourceGroup,
        scaleSet,
        {
          sku: { capacity },
        },
        this.lro(),
      );
    } catch (e) {
      throw toAzureError(`set ${scaleSet} capacity to ${capacity}`, e);
    }
  }

  /**
   * Starts setting a scale set's VM count and returns once Azure has accepted it (adding VMs takes
   * minutes); `getCapacity` reads its progress.
   */
  async startCapacity(p: Placement, scaleSet: string, capacity: number): Promise<void> {
    await this.write(p.subscriptionId);
    try {
      await this.compute(p.subscriptionId)
        .virtualMachineScaleSets.update(p.resourceGroup, scaleSet, { sku: { capacity } })
        .submitted();
    } catch (e) {
      throw toAzureError(`set ${scaleSet} capacity to ${capacity}`, e);
    }
  }

  /** A scale set's VM count and provisioning state; undefined when it does not exist. */
  async getCapacity(
    p: Placement,
    scaleSet: string,
  ): Promise<{ capacity: number; provisioningState: string } | undefined> {
    try {
      const vmss = await this.compute(p.subscriptionId).virtualMachineScaleSets.get(
        p.resourceGroup,
        scaleSet,
      );
      return {
        capacity: Number(vmss.sku?.capacity ?? 0),
        provisioningState: String(vmss.provisioningState ?? 'Succeeded'),
      };
    } catch (e) {
      const err = toAzureError(`read ${scaleSet}`, e);
      if (err.code === 'AZURE.NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Creates or updates a scale set extension (e.g. the Azure Monitor agent) and waits for it. */
  async putScaleSetExtension(
    p: Placement,
    scaleSet: string,
    name: string,
    properties: Record<string, unknown>,
  ): Promise<void> {
    await this.write(p.subscriptionId);
    const id = scaleSetExtensionId(p, scaleSet, name);
    try {
      await this.resources(p.subscriptionId).resources.createOrUpdateById(
        id,
        EXTENSION_API_VERSION,
        { properties },
        this.lro(),
      );
    } catch (e) {
      throw toAzureError(`put extension ${name} on ${scaleSet}`, e);
    }
  }

  /** Deletes a scale set extension and waits; answers false when it was not there. */
  async deleteScaleSetExtension(p: Placement, scaleSet: string, name: string): Promise<boolean> {
    const id = scaleSetExtensionId(p, scaleSet, name);
    if (!(await this.exists(id, EXTENSION_API_VERSION))) return false;
    await this.write(p.subscriptionId);
    try {
      await this.resources(p.subscriptionId).resources.deleteById(id, EXTENSION_API_VERSION, this.lro());
      return true;
    } catch (e) {
      const err = toAzureError(`delete extension ${name} from ${scaleSet}`, e);
      if (err.code === 'AZURE.NOT_FOUND') return false;
      throw err;
    }
  }

  /** Whether a scale set extension exists (and is not being deleted). */
  async hasScaleSetExtension(p: Placement, scaleSet: string, name: string): Promise<boolean> {
    return this.exists(scaleSetExtensionId(p, scaleSet, name), EXTENSION_API_VERSION);
  }

  /** Starts deleting a resource by id; answers false when it was already gone. */
  async startDelete(resourceId: string, apiVersion: string): Promise<boolean> {
    const sub = /^\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1];
    if (!sub) throw new AzureError('AZURE.INVALID', `Not a resource id: ${resourceId}`, { transient: false });
    if (!(await this.exists(resourceId, apiVersion))) return false;
    await this.write(sub);
    try {
      await this.resources(sub).resources.deleteById(resourceId, apiVersion).submitted();
      return true;
    } catch (e) {
      const err = toAzureError(`delete ${resourceId}`, e);
      if (err.code === 'AZURE.NOT_FOUND') return false;
      throw err;
    }
  }

  async exists(resourceId: string, apiVersion: string): Promise<boolean> {
    const sub = /^\/subscriptions\/([^/]+)/i.exec(resourceId)?.[1] ?? '';
    try {
      await this.resources(sub).resources.getById(resourceId, apiVersion);
      return true;
    } catch (e) {
      const err = toAzureError(`read ${resourceId}`, e);
      if (err.code === 'AZURE.NOT_FOUND') return false;
      throw err;
    }
  }
}
