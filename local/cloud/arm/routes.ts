import { parseResourceId } from './template';

/** The ARM REST paths the emulator serves, parsed. Path segments compare case-insensitively, as ARM's do. */

export interface DeploymentScope {
  subscriptionId: string;
  resourceGroup?: string;
}

export type Route =
  | { kind: 'groups'; subscriptionId: string }
  | { kind: 'group'; subscriptionId: string; resourceGroup: string }
  | { kind: 'groupResources'; subscriptionId: string; resourceGroup: string }
  | { kind: 'deployments'; scope: DeploymentScope }
  | {
      kind: 'deployment';
      scope: DeploymentScope;
      name: string;
      action?: 'validate' | 'whatIf' | 'cancel' | 'operations' | 'operationStatuses' | 'exportTemplate';
      item?: string;
    }
  | { kind: 'operation'; subscriptionId: string; id: string; style: 'status' | 'result' }
  | {
      kind: 'resource';
      id: string;
      subscriptionId: string;
      resourceGroup?: string;
      type: string;
      name: string;
      parent?: string;
    }
  | {
      kind: 'collection';
      subscriptionId: string;
      resourceGroup?: string;
      parentId?: string;
      type: string;
      path: string;
    }
  | { kind: 'unknown'; path: string };

const eq = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();

const ACTIONS: Record<string, 'validate' | 'whatIf' | 'cancel' | 'operations' | 'exportTemplate'> = {
  validate: 'validate',
  whatif: 'whatIf',
  cancel: 'cancel',
  operations: 'operations',
  exporttemplate: 'exportTemplate',
};

export function parseRoute(url: URL): Route {
  const path = url.pathname;
  let segs: string[];
  try {
    segs = path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return { kind: 'unknown', path };
  }
  if (!eq(segs[0], 'subscriptions') || !segs[1]) return { kind: 'unknown', path };
  const subscriptionId = segs[1];
  const rest = segs.slice(2);
  if (eq(rest[0], 'operationresults') && rest.length === 2)
    return { kind: 'operation', subscriptionId, id: rest[1]!, style: 'result' };
  let scope: DeploymentScope = { subscriptionId };
  let after: string[];
  if (eq(rest[0], 'resourcegroups')) {
    if (rest.length === 1) return { kind: 'groups', subscriptionId };
    const resourceGroup = rest[1]!;
    if (rest.length === 2) return { kind: 'group', subscriptionId, resourceGroup };
    if (rest.length === 3 && eq(rest[2], 'resources'))
      return { kind: 'groupResources', subscriptionId, resourceGroup };
    scope = { subscriptionId, resourceGroup };
    // Deployment operations keep ARM's older path, without providers/Microsoft.Resources.
    if (eq(rest[2], 'deployments') && eq(rest[4], 'operations') && (rest.length === 5 || rest.length === 6))
      return {
        kind: 'deployment',
        scope,
        name: rest[3]!,
        action: 'operations',
        ...(rest[5] ? { item: rest[5] } : {}),
      };
    if (!eq(rest[2], 'providers')) return { kind: 'unknown', path };
    after = rest.slice(3);
  } else if (eq(rest[0], 'providers')) after = rest.slice(1);
  else return { kind: 'unknown', path };

  if (eq(after[0], 'Microsoft.Resources') && eq(after[1], 'deployments')) {
    if (after.length === 2) return { kind: 'deployments', scope };
    const name = after[2]!;
    if (after.length === 3) return { kind: 'deployment', scope, name };
    const action = ACTIONS[after[3]!.toLowerCase()];
    if (after.length === 4 && action) return { kind: 'deployment', scope, name, action };
    if (after.length === 5 && eq(after[3], 'operations'))
      return { kind: 'deployment', scope, name, action: 'operations', item: after[4]! };
    if (after.length === 5 && eq(after[3], 'operationStatuses'))
      return { kind: 'deployment', scope, name, action: 'operationStatuses', item: after[4]! };
    return { kind: 'unknown', path };
  }
  if (!scope.resourceGroup && eq(after[1], 'locations') && after.length === 5) {
    if (eq(after[3], 'operations'))
      return { kind: 'operation', subscriptionId, id: after[4]!, style: 'status' };
    if (eq(after[3], 'operationResults'))
      return { kind: 'operation', subscriptionId, id: after[4]!, style: 'result' };
  }
  const id = `/${segs.join('/')}`;
  const lastProviders = segs.map((s) => s.toLowerCase()).lastIndexOf('providers');
  const tail = segs.slice(lastProviders + 1);
  if (tail.length >= 3 && tail.length % 2 === 1) {
    const p = parseResourceId(id);
    if (!p) return { kind: 'unknown', path };
    return {
      kind: 'resource',
      id,
      subscriptionId,
      ...(scope.resourceGroup ? { resourceGroup: scope.resourceGroup } : {}),
      type: p.type,
      name: p.name,
      ...(p.parent ? { parent: p.parent } : {}),
    };
  }
  if (tail.length >= 2 && tail.length % 2 === 0) {
    const types = [tail[0]!];
    for (let i = 1; i < tail.length; i += 2) types.push(tail[i]!);
    const parentSegs = segs.slice(0, segs.length - 1);
    const parentTail = tail.slice(0, -1);
    return {
      kind: 'collection',
      subscriptionId,
      ...(scope.resourceGroup ? { resourceGroup: scope.resourceGroup } : {}),
      ...(parentTail.length >= 3 ? { parentId: `/${parentSegs.join('/')}` } : {}),
      type: types.join('/'),
      path,
    };
  }
  return { kind: 'unknown', path };
}

/** The operation name faults and the README use, e.g. `deployments.put`, `securityRules.delete`. */
export function operationNames(route: Route, method: string): string[] {
  const verb = method.toLowerCase();
  switch (route.kind) {
    case 'groups':
      return ['resourceGroups.list'];
    case 'group':
      return [`resourceGroups.${verb}`];
    case 'groupResources':
      return ['resources.list'];
    case 'deployments':
      return ['deployments.list'];
    case 'deployment':
      if (!route.action) return [`deployments.${verb}`];
      if (route.action === 'operations')
        return [route.item ? 'deploymentOperations.get' : 'deploymentOperations.list'];
      return [`deployments.${route.action}`];
    case 'operation':
      return ['operations.get'];
    case 'resource': {
      const last = route.type.split('/').pop()!;
      return [`${last}.${verb}`, `resources.${verb}`];
    }
    case 'collection':
      return [`${route.type.split('/').pop()!}.list`, 'resources.list'];
    case 'unknown':
      return ['unknown'];
  }
}
