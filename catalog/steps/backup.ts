import type { StepSpec } from './step-spec';

/** Backups of an environment's configuration state. */
export const BACKUP_STEPS: StepSpec[] = [
  {
    name: 'createBackup',
    summary: "Back up an environment's JENKINS_HOME configuration through the sidecar.",
    description: ['Archives the configuration state of the environment (default: the active one) and verifies the archive; returns where it is.'],
    rpc: 'backup.create',
    mutating: true,
    team: true,
    params: [{ name: 'environment', type: 'environment', doc: 'Environment to back up. Default: the active one.', rpc: 'environment' }],
    returns: 'Map: backupId, path, files, bytes.',
    failures: ['NOT_FOUND when the environment has no container; DEPENDENCY_DOWN when Docker is unreachable.'],
    example: 'def b = createBackup()\necho "backup ${b.backupId}: ${b.files} files"',
  },
  {
    name: 'listBackups',
    summary: "The team's backups, newest first.",
    description: ['Lists the backups the sidecar knows for the team.'],
    rpc: 'backup.list',
    mutating: false,
    team: true,
    params: [],
    returns: 'Map: backups (list).',
    failures: ['Sidecar errors only.'],
    example: 'def latest = listBackups().backups[0]',
  },
];
