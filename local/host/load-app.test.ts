import { applyHostJsonOverrides } from './load-app';

describe('host.json overrides from app settings', () => {
  it('applies AzureFunctionsJobHost__a__b settings over host.json, case-insensitively, typed', () => {
    const hostJson = {
      version: '2.0',
      extensions: { durableTask: { hubName: 'Hub', maxConcurrentActivityFunctions: 4 } },
    };
    const result = applyHostJsonOverrides(hostJson, {
      AzureFunctionsJobHost__extensions__durableTask__maxConcurrentActivityFunctions: '20',
      AzureFunctionsJobHost__Extensions__DurableTask__hubName: 'Other',
      AzureFunctionsJobHost__extensions__http__routePrefix: 'v1',
      AzureFunctionsJobHost__logging__console__isEnabled: 'false',
      UNRELATED: 'x',
    });
    expect(result).toEqual({
      version: '2.0',
      extensions: {
        durableTask: { hubName: 'Other', maxConcurrentActivityFunctions: 20 },
        http: { routePrefix: 'v1' },
      },
      logging: { console: { isEnabled: false } },
    });
    expect(hostJson.extensions.durableTask.maxConcurrentActivityFunctions).toBe(4);
  });
});
