import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real rsync daemons and git processes; the machine has two cores.
    fileParallelism: true,
    maxWorkers: 2,
    // Every case stands alone (a farm of its own, or nothing it needs from another): shuffled
    // within each file so that an order dependency cannot creep back; the seed is printed.
    sequence: { shuffle: { files: false, tests: true } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The pure modules, where every decision is made: measured by their unit tests (npm run
    // coverage; npm test prints it too). A report to read, not a number to reach.
    coverage: {
      provider: 'v8',
      include: [
        'src/plan.ts',
        'src/deploy-plan.ts',
        'src/state.ts',
        'src/status.ts',
        'src/batcher.ts',
        'src/paths.ts',
        'src/rsync-args.ts',
        'src/itemize.ts',
        'src/rsync-failure.ts',
        'src/ssh.ts',
        'src/dest.ts',
        'src/config.ts',
        'src/report.ts',
        'src/rollback.ts',
        'src/session.ts',
      ],
      reporter: ['text-summary', 'text'],
      reportsDirectory: 'coverage',
    },
  },
});
