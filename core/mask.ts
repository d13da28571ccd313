/**
 * A webhook URL as it may be shown: scheme and host only. Teams Workflows URLs carry their signature in
 * the query string (`sig=...`), so anything past the host is a secret.
 */
export function maskWebhookUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(not a URL)';
  }
}
