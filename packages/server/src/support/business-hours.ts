import type { BusinessHours } from '@parley/protocol';

// Openings are looked for in steps of this size, up to a week ahead.
const STEP_MS = 5 * 60_000;
const WEEK_MS = 7 * 24 * 3600_000;

/** Whether the team is open at `at` (epoch ms), in its time zone. */
export function isOpen(hours: BusinessHours, at: number): boolean {
  const { weekday, minutes } = localTime(hours.timeZone, at);
  const intervals = hours.days[String(weekday) as keyof BusinessHours['days']] ?? [];
  return intervals.some(([from, to]) => minutes >= toMinutes(from) && minutes < toMinutes(to));
}

/** Null while the team is open; else when it opens next (epoch ms, to the step; a week ahead if it never opens within one). */
export function nextOpening(hours: BusinessHours, now: number): number | null {
  if (isOpen(hours, now)) return null;
  for (let at = Math.ceil(now / STEP_MS) * STEP_MS; at <= now + WEEK_MS; at += STEP_MS) {
    if (isOpen(hours, at)) return at;
  }
  return now + WEEK_MS;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function localTime(timeZone: string, at: number): { weekday: number; minutes: number } {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((part) => [part.type, part.value]));
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday!);
  return { weekday, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

function toMinutes(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return hours! * 60 + minutes!;
}

/** Whether a time zone name is one this runtime knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
