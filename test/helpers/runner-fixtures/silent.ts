// A test file for test/helpers/runner.test.ts: exits 0 without printing any TAP (tap never loaded).
export {};
