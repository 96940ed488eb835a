#!/usr/bin/env node
// Thin launcher so `npx parley` works from the workspace root after `npm install` (which builds dist/).
import '../dist/cli.js';
