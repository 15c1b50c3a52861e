/**
 * A build as the RPC params name it (`<JOB_NAME>#<BUILD_NUMBER>`, e.g.
 * `devops/Infrastructure/Switch#41`; `job/name#12` as a URL-ish path is
 * accepted too) and as Jenkins reports it (an executable's url
 * `…/job/devops/job/Infrastructure/job/Switch/41/`).
 */
export interface BuildRef {
  job: string; // full name with '/' between folders
  number: number;
}

export function parseBuildRef(text: string): BuildRef | null {
  const m = /^(.+)#(\d+)$/.exec(text.trim());
  if (!m) return null;
  let job = m[1].replace(/^\/+|\/+$/g, '');
  if (job.startsWith('job/')) job = job.split('/').filter((s, i) => !(i % 2 === 0 && s === 'job')).join('/');
  if (!job) return null;
  return { job: decodeURIComponentSafe(job), number: Number(m[2]) };
}

export function buildRefFromUrl(url: string): BuildRef | null {
  let path: string;
  try {
    path = new URL(url, 'http://x/').pathname;
  } catch {
    return null;
  }
  const i = path.indexOf('/job/');
  if (i < 0) return null;
  const segs = path.slice(i + 1).split('/').filter(Boolean);
  const names: string[] = [];
  let k = 0;
  while (k + 1 < segs.length && segs[k] === 'job') {
    names.push(decodeURIComponentSafe(segs[k + 1]));
    k += 2;
  }
  const num = segs[k];
  if (!names.length || !num || !/^\d+$/.test(num)) return null;
  return { job: names.join('/'), number: Number(num) };
}

export const formatBuildRef = (b: BuildRef): string => `${b.job}#${b.number}`;
export const sameBuild = (a: BuildRef, b: BuildRef): boolean => a.job === b.job && a.number === b.number;

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
