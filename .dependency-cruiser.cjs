/** Dependency rules of docs/architecture.md: protocol <- core <- modules <- app, no cycles. */
const server = '^packages/server/src/';
const modules = ['gateway', 'ai', 'support', 'kb', 'http', 'reactions', 'webhooks', 'widget'];

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'protocol-imports-only-zod',
      comment: 'The wire definitions depend on zod alone; MessagePack framing is the one exception, below.',
      severity: 'error',
      from: { path: '^packages/protocol/src/', pathNot: '^packages/protocol/src/msgpack\\.ts$' },
      to: { dependencyTypesNot: ['local'], pathNot: '^node_modules/zod/' },
    },
    {
      name: 'protocol-msgpack-imports-only-msgpackr',
      comment:
        'The MessagePack codec is its own entry (`@parley/protocol/msgpack`) and adds msgpackr, which runs in browsers; ' +
        'the main entry never imports it, so JSON clients bundle none of it.',
      severity: 'error',
      from: { path: '^packages/protocol/src/msgpack\\.ts$' },
      to: { dependencyTypesNot: ['local'], pathNot: ['^node_modules/zod/', '^node_modules/msgpackr/'] },
    },
    {
      name: 'protocol-main-entry-has-no-msgpack',
      severity: 'error',
      from: { path: '^packages/protocol/src/', pathNot: '^packages/protocol/src/msgpack\\.ts$' },
      to: { path: '^packages/protocol/src/msgpack\\.ts$' },
    },
    {
      name: 'client-is-browser-safe',
      comment: 'The SDK runs in browsers: only the protocol, no Node built-ins or Node-only packages.',
      severity: 'error',
      from: { path: '^packages/client/src/', pathNot: '^packages/client/src/(react|webhooks)\\.ts$' },
      to: { pathNot: ['^packages/client/src/', '^packages/protocol/', '^node_modules/@parley/protocol', '^node_modules/zod/'] },
    },
    {
      name: 'client-react-entry-uses-only-react',
      comment: 'The optional `@parley/client/react` entry adds React (a peer dependency) and nothing else.',
      severity: 'error',
      from: { path: '^packages/client/src/react\\.ts$' },
      to: { pathNot: ['^packages/client/src/', '^packages/protocol/', '^node_modules/@parley/protocol', '^node_modules/zod/', '^node_modules/react/'] },
    },
    {
      name: 'client-webhooks-entry-uses-only-standardwebhooks',
      comment:
        'The `@parley/client/webhooks` entry (for receivers) adds the standardwebhooks package (browser-safe: no Node built-ins) and nothing else; ' +
        'the main entry never imports it.',
      severity: 'error',
      from: { path: '^packages/client/src/webhooks\\.ts$' },
      to: { pathNot: ['^packages/protocol/', '^node_modules/@parley/protocol', '^node_modules/zod/', '^node_modules/(standardwebhooks|@stablelib/base64|fast-sha256)/'] },
    },
    {
      name: 'client-main-entry-has-no-webhooks',
      severity: 'error',
      from: { path: '^packages/client/src/', pathNot: '^packages/client/src/webhooks\\.ts$' },
      to: { path: '^packages/client/src/webhooks\\.ts$' },
    },
    {
      name: 'web-uses-only-the-sdk-and-react',
      comment:
        'The web page reaches the server through the SDK only: no server code, no Node built-ins, no other packages ' +
        'but the Markdown renderer, which only src/markdown/ uses (next rule), and oauth4webapi, for the agents\' OIDC sign-in.',
      severity: 'error',
      from: { path: '^packages/web/src/', pathNot: '^packages/web/src/markdown/' },
      to: {
        pathNot: [
          '^packages/web/src/',
          '^packages/(client|protocol)/',
          '^node_modules/@parley/(client|protocol)/',
          '^node_modules/react/',
          '^node_modules/react-dom/',
          '^node_modules/oauth4webapi/',
        ],
      },
    },
    {
      name: 'web-markdown-uses-only-its-renderer',
      comment: 'Markdown is rendered by react-markdown with GFM, sanitizing, remend (unfinished Markdown while streaming) and Shiki, and nothing else.',
      severity: 'error',
      from: { path: '^packages/web/src/markdown/' },
      to: {
        pathNot: ['^packages/web/src/markdown/', '^node_modules/react/', '^node_modules/(react-markdown|remark-gfm|rehype-sanitize|remend|shiki)/'],
      },
    },
    {
      name: 'core-depends-on-protocol-only',
      severity: 'error',
      from: { path: `${server}core/` },
      to: { path: server, pathNot: `${server}core/` },
    },
    {
      name: 'only-app-wires-adapters',
      comment: 'Concrete adapters (adapters/memory, adapters/redis, store) are imported by the composition root only.',
      severity: 'error',
      from: { path: server, pathNot: [`${server}(app|adapters|store)/`, `${server}cli\\.ts$`] },
      to: { path: `${server}(adapters|store)/` },
    },
    {
      name: 'adapters-depend-on-core-only',
      comment: 'Memory, Redis and store adapters implement core ports; they know nothing of the modules above them.',
      severity: 'error',
      from: { path: `${server}(adapters|store)/` },
      to: { path: server, pathNot: `${server}(core|adapters|store)/` },
    },
    {
      name: 'conversations-below-the-modules',
      comment: 'The use cases serve every transport and module; they reach the rest only through core ports, auth and the log.',
      severity: 'error',
      from: { path: `${server}conversations/` },
      to: { path: server, pathNot: `${server}(conversations|core|auth|log|observability)/` },
    },
    {
      name: 'net-depends-on-core-only',
      comment: 'Outbound HTTP to tenant-configured URLs (net/) is shared by the modules; it knows nothing of them.',
      severity: 'error',
      from: { path: `${server}net/` },
      to: { path: server, pathNot: `${server}(core|net)/` },
    },
    {
      name: 'only-app-starts-tracing',
      comment: 'Modules trace through the OpenTelemetry API (observability/tracing.ts); the SDK is started by the composition root only.',
      severity: 'error',
      from: { path: server, pathNot: [`${server}app/`, `${server}observability/tracing-sdk\\.ts$`] },
      to: { path: [`${server}observability/tracing-sdk\\.ts$`, '^node_modules/@opentelemetry/(sdk-|exporter-|resources/)'] },
    },
    {
      name: 'nothing-imports-app',
      severity: 'error',
      from: { path: server, pathNot: [`${server}app/`, `${server}cli\\.ts$`, `${server}index\\.ts$`] },
      to: { path: `${server}(app/|cli\\.ts$)` },
    },
    ...modules.map((module) => ({
      name: `${module}-is-independent`,
      comment: 'Modules meet through the log and the core ports, never through each other.',
      severity: 'error',
      from: { path: `${server}${module}/` },
      to: { path: `${server}(${modules.filter((other) => other !== module).join('|')})/` },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['/dist/', '/test/'] },
    tsConfig: { fileName: 'tsconfig.depcruise.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types', 'default'], extensions: ['.ts', '.tsx', '.js'] },
  },
};
