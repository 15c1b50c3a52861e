/** The parts of Jenkins's REST answers the sidecar reads (see jenkins-rest-notes.md). */
export interface WhoAmI {
  name: string;
  authenticated: boolean;
  anonymous: boolean;
  authorities: string[];
}
export interface JobNode {
  _class: string;
  name: string;
  fullName?: string;
  url: string;
  color?: string;
  buildable?: boolean;
  nextBuildNumber?: number;
  jobs?: JobNode[];
}
export interface JobSummary {
  fullName: string;
  className: string;
  buildable: boolean | null;
  disabled: boolean;
  nextBuildNumber: number | null;
  folder: boolean;
}
export interface RootInfo {
  quietingDown: boolean;
  quietDownReason?: string | null;
  useSecurity?: boolean;
  jobs?: JobNode[];
}
export interface Executable {
  url?: string;
  fullDisplayName?: string;
  number?: number;
}
export interface ExecutorInfo {
  idle?: boolean;
  currentExecutable: Executable | null;
}
export interface ComputerInfo {
  /** hudson.model.Hudson$MasterComputer for the built-in node, hudson.slaves.SlaveComputer for an agent. */
  _class?: string;
  displayName: string;
  offline: boolean;
  temporarilyOffline?: boolean;
  offlineCauseReason?: string;
  idle: boolean;
  executors?: ExecutorInfo[];
  oneOffExecutors?: ExecutorInfo[];
}
export interface ComputerSet {
  busyExecutors: number;
  totalExecutors: number;
  computer: ComputerInfo[];
}
export interface QueueItem {
  id: number;
  task: { name: string; url?: string };
  why?: string | null;
  stuck?: boolean;
  blocked?: boolean;
}
/** A queue item read with its parameters (tree of queueWithParameters). */
export interface QueueItemWithParameters extends QueueItem {
  params?: string;
  inQueueSince?: number;
  actions?: Array<{ _class?: string; parameters?: Array<{ name: string; value?: unknown }> } | null>;
}
export interface PluginInfo {
  shortName: string;
  version: string;
  active: boolean;
  enabled: boolean;
}
