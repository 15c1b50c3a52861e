/**
 * Loaded before every integration test file (jest.config.js setupFiles): sidecars
 * started in-process read it from process.env, spawned ones get it forwarded
 * (sidecar-process.ts), so every real answer is checked against its method's
 * result schema and a mismatch fails the call as an internal error.
 */
process.env.SIDECAR_CHECK_RESULTS = '1';
