import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import { announceVotes, remindDeadlines } from '../orchestrations/notify-sweep';

/**
 * Timer on %TRUSTNET_NOTIFY_SWEEP_SCHEDULE% (every minute by default): announces votes cast since the
 * last sweep and reminds voters of ballots closing soon. Each event is delivered once, whatever overlaps.
 */
app.timer('notificationSweep', {
  schedule: '%TRUSTNET_NOTIFY_SWEEP_SCHEDULE%',
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: Timer, context: InvocationContext) => {
    const client = df.getClient(context);
    const votes = await announceVotes(client, context);
    const reminders = await remindDeadlines(client, context);
    if (votes || reminders) context.log(`Notification sweep: ${votes} vote(s), ${reminders} reminder(s).`);
  },
});
