/** The one domain error type, shared with library-gen (which checks team configuration the same way): catalog/sidecar-error.ts. */
export * from '../../catalog/sidecar-error';
