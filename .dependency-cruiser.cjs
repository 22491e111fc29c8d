// Import rules the test command enforces (npm run lint:deps).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'signaling-not-to-gateway',
      comment: 'signaling/ keeps the protocol and declares the port it needs; gateway/ uses it, never the other way.',
      severity: 'error',
      from: { path: '^signaling/' },
      to: { path: '^gateway/' },
    },
    {
      name: 'web-client-types-only',
      comment: 'the browser bundle takes only types from the server side (the protocol), never code.',
      severity: 'error',
      from: { path: '^web-client/src/' },
      to: { path: '^(gateway|signaling|config)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      comment: 'a cycle means two modules cannot be understood (or closed) one without the other.',
      severity: 'error',
      from: { path: '^(gateway|signaling)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(^|/)node_modules/' },
  },
};
