import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// src/ follows a push through its life, one folder a stage (docs/development.md); imports run one
// way, down this list: a folder may import itself and the folders after it, never one before it.
const LAYERS = ['cli', 'observe', 'watch', 'deploy', 'releases', 'build', 'engine', 'transport', 'base'];
const importDirection = LAYERS.slice(1).map((layer, i) => {
  const above = LAYERS.slice(0, i + 1);
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          group: above.map((folder) => `**/${folder}/*`),
          message: `src/${layer}/ may import only from ${LAYERS.slice(i + 1).map((f) => `${f}/`).join(', ')}: ${above.map((f) => `${f}/`).join(', ')} ${above.length === 1 ? 'is' : 'are'} above it`,
        }],
      }],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench-results/', 'scratch/', 'site/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  ...importDirection,
  // a function a reader holds in their head at once: 60 lines at most in src/, 80 in the benchmark
  // and the demo (counted from its first line to its last, comments and blank lines included)
  { files: ['src/**/*.ts'], rules: { 'max-lines-per-function': ['error', { max: 60 }] } },
  { files: ['bench/**/*.ts', 'scripts/**/*.ts'], rules: { 'max-lines-per-function': ['error', { max: 80 }] } },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
