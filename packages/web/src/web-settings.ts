/** What the server tells its web pages about a tenant before anyone signs in (`GET /v1/web/settings`). */
export interface WebSettings {
  /** Hosts whose Markdown images the pages load (PARLEY_IMAGE_HOSTS); any other image shows as a link. */
  imageHosts: string[];
}

/** The settings of `tenant` from the server that served this page (or `baseUrl`). */
export async function fetchWebSettings(tenant: string, baseUrl = ''): Promise<WebSettings> {
  const response = await fetch(`${baseUrl}/v1/web/settings?tenant=${encodeURIComponent(tenant)}`);
  if (!response.ok) throw new Error(`the settings endpoint answered ${response.status}`);
  const body = (await response.json()) as { imageHosts?: unknown };
  const hosts = Array.isArray(body.imageHosts) ? body.imageHosts.filter((host): host is string => typeof host === 'string') : [];
  return { imageHosts: hosts };
}
