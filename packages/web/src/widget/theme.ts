/**
 * The widget's theme, as `data-theme` gives it: `name:colour` pairs separated by `;`, for example
 * `accent:#e11d48; panel:#ffffff; text:#1f2937`. Names are the chat page's CSS variables; a colour is a hex
 * colour, an rgb()/hsl() colour or a colour keyword. Anything else is left out.
 */

/** The CSS variables a theme may set (see styles.css). */
export const THEME_VARIABLES = ['bg', 'panel', 'text', 'muted', 'border', 'accent', 'accent-text', 'mine', 'theirs', 'tool'] as const;
export type ThemeVariable = (typeof THEME_VARIABLES)[number];
export type Theme = Partial<Record<ThemeVariable, string>>;

const COLOUR = /^(#[0-9a-fA-F]{3,8}|(rgb|rgba|hsl|hsla)\([0-9.,%\s/]{1,60}\)|[a-zA-Z]{3,30})$/;

/** The valid pairs of a theme string (invalid ones are dropped, so a typo costs one colour, not the widget). */
export function parseTheme(text: string | null | undefined): Theme {
  const theme: Theme = {};
  for (const pair of (text ?? '').slice(0, 2000).split(';')) {
    const separator = pair.indexOf(':');
    if (separator < 0) continue;
    const name = pair.slice(0, separator).trim();
    const value = pair.slice(separator + 1).trim();
    if ((THEME_VARIABLES as readonly string[]).includes(name) && COLOUR.test(value)) theme[name as ThemeVariable] = value;
  }
  return theme;
}

/** The theme as a `data-theme` string again (what widget.js hands the frame). */
export function formatTheme(theme: Theme): string {
  return Object.entries(theme)
    .map(([name, value]) => `${name}:${value}`)
    .join(';');
}

/** Sets the theme's colours as CSS variables on `element`. */
export function applyTheme(element: { style: { setProperty(name: string, value: string): void } }, theme: Theme): void {
  for (const [name, value] of Object.entries(theme)) element.style.setProperty(`--${name}`, value);
}
