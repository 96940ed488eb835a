import { defineConfig } from 'vite';

// widget.js: the loader a site embeds, a small self-contained script (no React, no SDK) built beside the
// pages in dist/ (after them: their build empties the directory), so the server serves it at /widget.js.
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    copyPublicDir: false,
    sourcemap: true,
    target: 'es2020',
    minify: true,
    lib: { entry: 'src/widget/loader.ts', formats: ['iife'], name: 'ParleyWidget', fileName: () => 'widget.js' },
  },
});
