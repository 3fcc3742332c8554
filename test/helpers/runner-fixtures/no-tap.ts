// A test file for test/helpers/runner.test.ts: exits 1 without printing any TAP.
process.stderr.write('no-tap fixture: exiting 1 without TAP\n');
process.exit(1);
