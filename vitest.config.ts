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
        'src/engine/sync-plan.ts',
        'src/deploy/deploy-plan.ts',
        'src/engine/state.ts',
        'src/observe/status.ts',
        'src/observe/farm-view.ts',
        'src/observe/farm-page.ts',
        'src/observe/farm-chart.ts',
        'src/watch/batcher.ts',
        'src/base/paths.ts',
        'src/transport/rsync-args.ts',
        'src/transport/itemize.ts',
        'src/transport/rsync-failure.ts',
        'src/transport/ssh.ts',
        'src/base/dest.ts',
        'src/base/config.ts',
        'src/engine/report.ts',
        'src/engine/units.ts',
        'src/engine/progress.ts',
        'src/deploy/rollback.ts',
        'src/cli/session.ts',
      ],
      reporter: ['text-summary', 'text'],
      reportsDirectory: 'coverage',
    },
  },
});
