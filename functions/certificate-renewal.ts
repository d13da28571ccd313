import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { startRenewals } from '../orchestrations/renew-certificate';

/**
 * Timer on %TRUSTNET_CERT_RENEWAL_SCHEDULE% (daily by default): starts a renewal for every ACTIVE
 * member whose node certificate expires within TRUSTNET_CERT_RENEW_BEFORE.
 */
app.timer('certificateRenewal', {
  schedule: '%TRUSTNET_CERT_RENEWAL_SCHEDULE%',
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: Timer, context: InvocationContext) => {
    const started = await startRenewals(df.getClient(context), context);
    if (started) context.log(`Certificate renewal: started ${started} renewal(s).`);
  },
});
