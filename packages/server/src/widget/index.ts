/** The embeddable widget: widget keys and secrets (admin), guest tokens (public). See docs/widget.md. */
export { WIDGET_SECRET_PREFIX, WidgetKeys } from './admin.js';
export { identityHash, WidgetTokens, type WidgetTokenSigner, type WidgetTokensOptions } from './tokens.js';
