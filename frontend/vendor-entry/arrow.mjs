// The part of apache-arrow the point worker uses, bundled by esbuild (see the Makefile's `node`
// target) into build/arrow.mjs: one ES module with no bare imports, which a module worker can load.
export { RecordBatchReader } from 'apache-arrow';
