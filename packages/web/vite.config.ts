import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const page = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/** In `npm run dev`, `/agent` (and anything under it) is the agent console, as the server serves it. */
function agentRoute(): Plugin {
  return {
    name: 'parley-agent-route',
    configureServer(server) {
      server.middlewares.use((request, _response, next) => {
        const url = request.url ?? '';
        // The query stays: a sign-in coming back from an identity provider carries its answer there.
        if (/^\/agent(\/|\?|$)/.test(url)) request.url = `/agent.html${url.includes('?') ? url.slice(url.indexOf('?')) : ''}`;
        next();
      });
    },
  };
}

// No React plugin: esbuild compiles JSX with the automatic runtime (so `npm run dev` has no Fast Refresh).
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  plugins: [agentRoute()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    // The page is one chunk by design (about 580 kB, 177 kB gzipped, with the Markdown renderer); the
    // highlighter and each grammar are chunks of their own, loaded with the first code block of their
    // language (the largest, C++, is 800 kB, 60 kB gzipped).
    chunkSizeWarningLimit: 850,
    rollupOptions: {
      // The chat page at `/`, the agent console at `/agent`, and the chat page inside the widget's iframe (served at /widget/frame).
      input: { main: page('index.html'), agent: page('agent.html'), 'widget-frame': page('widget-frame.html') },
      onwarn(warning, warn) {
        // zod's comments about esbuild's tree shaking look like misplaced annotations to Rollup; harmless.
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('node_modules')) return;
        warn(warning);
      },
    },
  },
  // `npm run dev -w @parley/web` serves the page on :5173 and forwards the API to a server on :8080 (`npm start`).
  server: { proxy: { '/v1': { target: 'http://localhost:8080', ws: true } } },
});
