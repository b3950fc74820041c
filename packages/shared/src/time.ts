/** A clock seam so that expiry and metering can be tested without waiting. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** UTC ISO-8601 with `Z`, as the Roboflow client requires (spec §1.5). */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
