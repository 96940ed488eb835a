import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The directory of swagger-ui-dist, whose files render the API document in a browser without any CDN. */
export function swaggerUiDirectory(): string {
  return join(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'), '..');
}

/** The page at /docs/api: Swagger UI, from this server, on /v1/openapi.json. */
export const API_DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Parley server API</title>
<link rel="stylesheet" href="/docs/api/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/api/assets/swagger-ui-bundle.js"></script>
<script src="/docs/api/init.js"></script>
</body>
</html>
`;

/** Started from a file rather than inline, so that a strict Content-Security-Policy can forbid inline scripts. */
export const API_DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/v1/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;
