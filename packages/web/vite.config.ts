import { defineConfig } from 'vite';

// No React plugin: esbuild compiles JSX with the automatic runtime (so `npm run dev` has no Fast Refresh).
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rollupOptions: {
      // The chat page, and the same page inside the widget's iframe (served at /widget/frame).
      input: { main: 'index.html', 'widget-frame': 'widget-frame.html' },
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
