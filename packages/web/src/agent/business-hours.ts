import type { BusinessHours } from '@parley/client';

/** Weekday names by the protocol's keys ('0' = Sunday). */
export const WEEKDAYS = [
  ['1', 'Monday'],
  ['2', 'Tuesday'],
  ['3', 'Wednesday'],
  ['4', 'Thursday'],
  ['5', 'Friday'],
  ['6', 'Saturday'],
  ['0', 'Sunday'],
] as const;

export type Weekday = (typeof WEEKDAYS)[number][0];

/** One day in the editor: closed, or open from `from` to `to` ("HH:MM"). */
export interface DayHours {
  open: boolean;
  from: string;
  to: string;
}

/** The editor's form of business hours: one interval per day (the protocol allows four; saving here keeps the first of each day). */
export interface HoursForm {
  enabled: boolean;
  timeZone: string;
  days: Record<Weekday, DayHours>;
}

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;

/** The editor's form of a team's hours (none: always open, shown with weekdays 09:00–17:00 to start from). */
export function hoursForm(hours: BusinessHours | null, defaultTimeZone: string): HoursForm {
  const days = {} as Record<Weekday, DayHours>;
  for (const [key] of WEEKDAYS) {
    const interval = hours?.days[key]?.[0];
    days[key] = interval ? { open: true, from: interval[0], to: interval[1] } : { open: !hours && key !== '0' && key !== '6', from: '09:00', to: '17:00' };
  }
  return { enabled: hours !== null, timeZone: hours?.timeZone ?? defaultTimeZone, days };
}

/** Business hours from the editor's form, or what is wrong with it. */
export function hoursFromForm(form: HoursForm): { hours: BusinessHours | null } | { error: string } {
  if (!form.enabled) return { hours: null };
  if (!isTimeZone(form.timeZone)) return { error: `${form.timeZone} is not a time zone (try Europe/Berlin or America/New_York)` };
  // Every weekday is written, closed ones as []: the protocol's record of weekdays (zod 4) requires all seven keys.
  const days = { '0': [], '1': [], '2': [], '3': [], '4': [], '5': [], '6': [] } as BusinessHours['days'];
  for (const [key, name] of WEEKDAYS) {
    const day = form.days[key];
    if (!day.open) continue;
    if (!TIME.test(day.from) || !TIME.test(day.to)) return { error: `${name}: times are HH:MM` };
    if (day.from >= day.to) return { error: `${name}: the end must be after the start` };
    days[key] = [[day.from, day.to]];
  }
  return { hours: { timeZone: form.timeZone, days } };
}

/** "Mon–Fri 09:00–17:00 (Europe/Berlin)"-like summary; "Always open" without hours. */
export function describeHours(hours: BusinessHours | null): string {
  if (!hours) return 'Always open';
  const parts = WEEKDAYS.filter(([key]) => hours.days[key]?.length).map(([key, name]) => `${name.slice(0, 3)} ${hours.days[key]!.map(([from, to]) => `${from}–${to}`).join(', ')}`);
  return parts.length === 0 ? `Closed every day (${hours.timeZone})` : `${parts.join(' · ')} (${hours.timeZone})`;
}

function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}
