/**
 * alexnet-ts/verify: the conformance kit. Every kernel of the contract as a
 * fast-check property with its float32 tolerance from the rounding model, run
 * on any backend against the reference (or another oracle); the whole-network
 * comparison; reports as text, JSON and JUnit; backends by spec name.
 *
 *   import { verifyKernels } from 'alexnet-ts/verify';
 *   import { createReferenceBackend } from 'alexnet-ts/reference';
 *   const results = verifyKernels(myBackend, createReferenceBackend(), { seed: 1 });
 *   results.filter((r) => r.verdict !== 'pass')   // each with its shrunk counterexample
 */
export * from './kernels.ts';
export * from './run.ts';
export * from './network.ts';
export * from './report.ts';
export * from './session.ts';
export * from './specs.ts';
export * from './tolerance.ts';
export * from './values.ts';
