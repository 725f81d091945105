#!/usr/bin/env node
// Placeholder replaced below by the harness work.
