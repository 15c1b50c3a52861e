/**
 * One Groovy step of the generated shared library (`vars/<name>.groovy`).
 * The catalog is the single source of truth: library-gen renders the Groovy,
 * its help text and docs/steps.md from it; the RPC method named in `rpc` is
 * validated by the sidecar with its zod schema in catalog/methods/.
 */

/** How a Groovy argument is checked and normalised before it reaches the sidecar. */
export type StepParamType =
  | 'string'
  | 'integer'
  | 'boolean'
  /** '90s', '10m', '1h' or a number of seconds; sent as integer seconds. */
  | 'duration'
  /** 'blue' or 'green'. */
  | 'environment'
  /** A build result: SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED; null (a succeeding build) means SUCCESS. */
  | 'status'
  | 'stringList'
  | 'integerList'
  /** Rollback trigger strings in the grammar of catalog/triggers.ts. */
  | 'triggerList'
  /** A map of plain values (strings, numbers, booleans, lists, maps). */
  | 'map';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface StepParam {
  /** camelCase name as a pipeline author writes it. */
  name: string;
  /** Other accepted spellings, e.g. the snake_case `validation_time` pipelines also write. */
  aliases?: string[];
  type: StepParamType;
  required?: boolean;
  /** Applied by the step when the argument is absent (documented in help). */
  default?: JsonValue;
  /** Allowed values (strings). */
  enum?: string[];
  /** Inclusive bounds for integers, durations (seconds) and every element of integer lists. */
  min?: number;
  max?: number;
  /** Regular expression a string (or each list element) must match fully. */
  pattern?: string;
  doc: string;
  /** Name of the RPC param it becomes; absent = used by the step itself, not sent. */
  rpc?: string;
}

export interface StepSpec {
  name: string;
  /** One line for the index. */
  summary: string;
  /** Paragraphs of plain text for the help page (vars/<name>.txt). */
  description: string[];
  /** The RPC method the step calls through sidecarctl, or null when it calls none. */
  rpc: string | null;
  /** Other RPC methods the step may call (documentation only). */
  alsoCalls?: string[];
  /** Mutating calls carry an idempotencyKey derived from job, build and step. */
  mutating: boolean;
  /** Whether the step takes a closure body: `step(args) { ... }`. */
  block?: boolean;
  /** Whether `team:` is accepted (resolved from env.JENKINS_TEAM or JOB_NAME when absent). */
  team: boolean;
  params: StepParam[];
  /** What the step returns to Groovy. */
  returns: string;
  /** Failure behaviour: which errors end the build. */
  failures: string[];
  /** A Groovy example, shown in help. */
  example: string;
  /**
   * Which key of the arguments distinguishes two calls of this step in one build,
   * for the idempotency key (e.g. the lock's operation). Absent: the step name alone.
   */
  discriminator?: string;
  /** Template under library-gen/templates/vars/steps/<template>.groovy.hbs; absent = the generic RPC body. */
  template?: string;
}
