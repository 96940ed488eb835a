/** Where the widget's frame finds out which page embeds it, and checks it. */

/** Why the frame will not run; shown in the frame (the page that embeds it cannot read it). */
export class WidgetSetupError extends Error {}

/** What the frame sees of its own window. */
export interface FrameWindow {
  isTop: boolean;
  /** `location.ancestorOrigins` (Chromium, Safari); absent in Firefox. */
  ancestorOrigins: ArrayLike<string> | undefined;
  referrer: string;
}

/**
 * The origin of the page that embeds the frame: the one widget.js claims (`origin=`), confirmed by the
 * browser's `ancestorOrigins` or, without it, the referrer. Where neither is available the claim stands:
 * messages are only ever posted to that origin, so a wrong claim reaches nobody.
 */
export function embeddingOrigin(claimed: string | null, frame: FrameWindow): string {
  if (frame.isTop) throw new WidgetSetupError('This page is the inside of the Parley chat widget: it runs only inside a site that embeds widget.js.');
  if (!claimed || !isOrigin(claimed)) throw new WidgetSetupError('The widget was loaded without the origin of the page that embeds it.');
  const actual = frame.ancestorOrigins?.length ? frame.ancestorOrigins[0] : originOf(frame.referrer);
  if (actual !== undefined && actual !== claimed) throw new WidgetSetupError(`The widget is embedded by ${actual}, not by ${claimed}.`);
  return claimed;
}

/** Checks the page's origin against the widget key's allowed origins (what /v1/widget/config says). */
export function checkAllowed(origin: string, tenant: string, config: { tenant: string; allowedOrigins: string[] }): void {
  if (config.tenant !== tenant) throw new WidgetSetupError(`This widget key belongs to another tenant than ${tenant}.`);
  if (!config.allowedOrigins.includes(origin)) throw new WidgetSetupError(`This widget key may not be used on ${origin}.`);
}

function isOrigin(text: string): boolean {
  return originOf(text) === text;
}

function originOf(url: string): string | undefined {
  if (!url) return undefined;
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}
