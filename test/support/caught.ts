import { isSidecarError, type SidecarError } from '../../agent/src/sidecar-error';

/** The SidecarError `p` rejects with; any other outcome fails the test with what happened instead. */
export async function caught(p: Promise<unknown>): Promise<SidecarError> {
  try {
    await p;
  } catch (err) {
    if (isSidecarError(err)) return err;
    throw err;
  }
  throw new Error('expected a SidecarError');
}
