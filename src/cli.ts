#!/usr/bin/env node
// model-sync: one thin command per step. Options and --help come from steps/*.yaml.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { allSteps, loadStep, STEP_NAMES, stepsDir, type ParamSpec, type StepContract, type StepName } from './contract/contract.js';
import { BOOLEAN_WORDS, resolveConfig } from './config/config.js';
import { environmentWarnings } from './config/environment-check.js';
import { earlyLogOptions, quietSdkNotices, terminationMessagePath } from './config/process-env.js';
import { StepSettings } from './config/settings.js';
import { redact } from './util/redact.js';
import { Shutdown, signalExitCode } from './util/shutdown.js';
import { ConfigError, EXIT, exitCodeOf, messageOf, ModelSyncError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { describeProxies } from './net/proxy-rules.js';
import { loadRunner } from './steps/index.js';
import { oneLine, writeTerminationMessage } from './termination.js';
import { asNoSpace, type VolumeTarget } from './workspace/disk.js';
import { Workspace } from './workspace/workspace.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(stepsDir(), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function optionHelp(p: ParamSpec): string {
  const facts = [`env ${p.env}`];
  if (p.default !== undefined) facts.push(`default ${JSON.stringify(p.default)}`);
  if (p.enum) facts.push(`one of ${p.enum.join('|')}`);
  if (p.minimum !== undefined || p.maximum !== undefined) facts.push(`${p.minimum ?? '…'} to ${p.maximum ?? '…'}`);
  if (p.required) facts.push('required');
  if (p.requiredWhen) {
    facts.push('required when ' + Object.entries(p.requiredWhen).map(([k, v]) => `${k}=${v.join('|')}`).join(' and '));
  }
  if (p.fallback) facts.push(`else ${p.fallback}`);
  if (p.secret) facts.push('secret');
  return `${p.description} (${facts.join('; ')})`;
}

const EPILOG = `
Precedence: flags, then MODEL_SYNC_* environment variables, then credential files
(*-credentials-path), then defaults. An empty value counts as unset.
Booleans accept ${BOOLEAN_WORDS} (on/off is more lenient
than upstream, which takes it only for --registry-is-secure).
Unknown MODEL_SYNC_* variables get a warning naming the closest setting.

Exit codes: 0 ok, 1 internal error, ${EXIT.config} invalid configuration, ${EXIT.precondition} registry precondition failed,
${EXIT.auth} credentials rejected, ${EXIT.notFound} not found, ${EXIT.unsafe} unsafe path refused, ${EXIT.integrity} digest or size mismatch,
${EXIT.noSpace} no space left on the volume, ${EXIT.transient} network fault or server error after retries,
143 stopped by SIGTERM (130 by SIGINT): open uploads aborted within --termination-grace-period.
On exit the cause (or, for register and all, the registry ids as JSON) is written to
$TERMINATION_MESSAGE_PATH (default /dev/termination-log).`;

/** --help lists the options under these headings, in this order (help and version last, as Options). */
const HELP_GROUPS = ['Source:', 'Destination:', 'Model Registry:', 'Tuning:', 'Logging:', 'General:'] as const;
type HelpGroup = (typeof HELP_GROUPS)[number];

/** The parameters whose name does not say their group (source-*, destination-*, registry-* do). */
const HELP_GROUP_OF: Record<string, HelpGroup> = {
  'pvc-mount-root': 'Source:',
  'archive-max-ratio': 'Source:',
  'archive-max-bytes': 'Source:',
  'modelcar-max-layers': 'Destination:',
  'modelcar-own-layer-bytes': 'Destination:',
  'modelpack-created-at': 'Destination:',
  sign: 'Destination:',
  'signing-identity-token-path': 'Destination:',
  'model-upload-intent': 'Model Registry:',
  'model-id': 'Model Registry:',
  'model-version-id': 'Model Registry:',
  'model-artifact-id': 'Model Registry:',
  'model-uri': 'Model Registry:',
  'model-uri-pinned': 'Model Registry:',
  'update-artifact-metadata': 'Model Registry:',
  'metadata-configmap-path': 'Model Registry:',
  'failure-reason': 'Model Registry:',
  'progress-interval': 'Tuning:',
  'network-timeout': 'Tuning:',
  'retry-attempts': 'Tuning:',
  'termination-grace-period': 'Tuning:',
  'fetch-concurrency': 'Tuning:',
  'push-concurrency': 'Tuning:',
  's3-part-size': 'Tuning:',
  's3-ranged-threshold': 'Tuning:',
  stream: 'Tuning:',
  parts: 'Tuning:',
  part: 'Tuning:',
  'log-level': 'Logging:',
  'log-format': 'Logging:',
};

export function helpGroupOf(name: string): HelpGroup {
  if (HELP_GROUP_OF[name]) return HELP_GROUP_OF[name];
  if (name.startsWith('source-')) return 'Source:';
  if (name.startsWith('destination-')) return 'Destination:';
  if (name.startsWith('registry-')) return 'Model Registry:';
  return 'General:';
}

const REGISTRY = '--registry-server-address https://model-registry.kubeflow.svc --registry-port 8443';
const S3_SOURCE = '--source-type s3 --source-aws-bucket models --source-aws-key sentiment/v1 --source-aws-region us-east-1';
const OCI_DESTINATION = '--destination-type oci --destination-oci-uri quay.io/acme/sentiment:1.0.0';
const METADATA = '--model-upload-intent create_model --metadata-configmap-path /etc/model-metadata';

/** Two command lines per step that --help ends with; test/operator-view parses and resolves each as a run would. */
export const STEP_EXAMPLES: Record<StepName, readonly [string, string]> = {
  fetch: [
    `model-sync fetch --storage-path /data ${S3_SOURCE}`,
    'model-sync fetch --storage-path /data --source-type uri --source-uri hf://ibm-granite/granite-3.1-2b-instruct --log-format pretty',
  ],
  package: [
    'model-sync package --storage-path /data --destination-oci-uri quay.io/acme/sentiment:1.0.0',
    'model-sync package --storage-path /data --destination-oci-uri quay.io/acme/sentiment:1.0.0 --destination-oci-base-image oci:/data/base:latest --modelcar-max-layers 32',
  ],
  push: [
    `model-sync push --storage-path /data ${OCI_DESTINATION} --destination-oci-credentials-path /secrets/push/.dockerconfigjson`,
    'model-sync push --storage-path /data --destination-type s3 --destination-aws-bucket served --destination-aws-key sentiment/1.0.0 --destination-aws-region us-east-1',
  ],
  register: [
    `model-sync register --storage-path /data ${METADATA} ${REGISTRY}`,
    `model-sync register --storage-path /data --model-upload-intent update_artifact --model-artifact-id 7 ${REGISTRY} --registry-user-token-envvar MR_TOKEN`,
  ],
  preflight: [
    `model-sync preflight --storage-path /data ${S3_SOURCE} ${OCI_DESTINATION} ${METADATA} ${REGISTRY}`,
    `model-sync preflight --storage-path /data --source-type uri --source-uri pvc://models/sentiment ${OCI_DESTINATION} --model-upload-intent update_artifact --model-artifact-id 7 ${REGISTRY}`,
  ],
  'mark-failed': [
    `model-sync mark-failed --storage-path /data ${METADATA} ${REGISTRY} --failure-reason "push: credentials rejected"`,
    `model-sync mark-failed --storage-path /data --model-upload-intent update_artifact --model-artifact-id 7 ${REGISTRY}`,
  ],
  all: [
    `model-sync all --storage-path /data ${S3_SOURCE} ${OCI_DESTINATION} ${METADATA} ${REGISTRY}`,
    `model-sync all --storage-path /data --source-type uri --source-uri hf://ibm-granite/granite-3.1-2b-instruct --destination-type s3 --destination-aws-bucket served --destination-aws-key granite/1 --destination-aws-region us-east-1 ${METADATA} ${REGISTRY}`,
  ],
  plan: [
    `model-sync plan --storage-path /data ${S3_SOURCE} ${OCI_DESTINATION} --parts 4`,
    `model-sync plan --storage-path /data --source-type uri --source-uri hf://ibm-granite/granite-3.1-2b-instruct ${OCI_DESTINATION} --parts 8`,
  ],
  assemble: [
    `model-sync assemble --storage-path /data ${OCI_DESTINATION}`,
    `model-sync assemble --storage-path /data ${OCI_DESTINATION} --destination-oci-credentials-path /secrets/push/.dockerconfigjson --push-concurrency 8`,
  ],
};

/** An example as a person would type it: long lines continued with a backslash. */
function wrapCommand(command: string, width = 96): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of command.match(/"[^"]*"|\S+/g) ?? []) {
    // a flag starts a new line when the line is full; a value stays with its flag
    if (line && word.startsWith('--') && line.length + word.length > width) {
      lines.push(`${line} \\`);
      line = `    ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.map((l) => `  ${l}`);
}

function examplesHelp(examples: readonly string[]): string {
  return `\nExamples (flags, or the same settings as MODEL_SYNC_* variables in a pod):\n${examples.flatMap((e) => wrapCommand(e)).join('\n')}`;
}

function addStepCommand(program: Command, contract: StepContract): void {
  const cmd = program
    .command(contract.name)
    .summary(contract.summary)
    .description(`${contract.summary}\n\n${contract.description}`)
    .addHelpText('after', EPILOG + '\n' + examplesHelp(STEP_EXAMPLES[contract.name as StepName]))
    .allowExcessArguments(false);
  const byGroup = [...contract.parameters].sort((a, b) => HELP_GROUPS.indexOf(helpGroupOf(a.name)) - HELP_GROUPS.indexOf(helpGroupOf(b.name)));
  for (const p of byGroup) {
    const option =
      p.type === 'boolean'
        ? new Option(`${p.flag} [value]`, optionHelp(p))
        : new Option(`${p.flag} <value>`, optionHelp(p));
    cmd.addOption(option.helpGroup(helpGroupOf(p.name)));
  }
  cmd.action(async (opts: Record<string, unknown>) => {
    process.exit(await runStep(contract.name as StepName, opts));
  });
}

/** Until the settings are read (a few milliseconds into the run), a stop gets this long. */
const EARLY_GRACE_SECONDS = 20;

/** Runs one step and returns the exit code. */
export async function runStep(name: StepName, flags: Record<string, unknown>, env?: NodeJS.ProcessEnv): Promise<number> {
  const contract = loadStep(name);
  let log: Logger = createLogger(earlyLogOptions(flags, env));
  const termination = terminationMessagePath(env);
  quietSdkNotices(env);
  const started = Date.now();
  // The first of the step's own end and a stop writes the termination message; the other stays quiet.
  let reported = false;
  const report = (message: string) => {
    if (reported) return;
    reported = true;
    writeTerminationMessage(termination, message);
  };
  // A step awaiting something that never settles would let Node run out of work and exit 0:
  // report that as a failure instead.
  const unfinished = () => {
    const message = `${name} stopped before finishing (a transfer never completed)`;
    log.error({ exitCode: EXIT.internal }, message);
    report(message);
    process.exit(EXIT.internal);
  };
  process.once('beforeExit', unfinished);
  const shutdown = new Shutdown();
  let grace: { seconds: number; setting?: string } = { seconds: EARLY_GRACE_SECONDS };
  let stopped: Promise<number> | undefined;
  let stopCode: (code: number) => void = () => undefined;
  const stopCodeKnown = new Promise<number>((resolve) => (stopCode = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopped) {
      // Kubernetes may signal again; the message and the clean-up still come within the grace period.
      log.warn({ signal }, `${signal} again: still stopping (at most ${grace.seconds} s after the first)`);
      return;
    }
    stopped = stopStep({ name, signal, shutdown, grace, started, log: () => log, report });
    void stopped.then(stopCode);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let volume: VolumeTarget | undefined;
  const work = async (): Promise<number | undefined> => {
    try {
      // Before the settings: a misspelt variable is often why a setting is missing.
      for (const warning of environmentWarnings({ step: contract, flags, env })) log.warn({ step: name }, warning);
      const config = resolveConfig({ step: contract, flags, env });
      const settings = new StepSettings(config, env ? { env } : undefined);
      grace = settings.terminationGracePeriod();
      volume = new Workspace(settings.storagePath, settings.storagePathSetting).volume;
      log.level = settings.logLevel;
      log = log.child({ step: name });
      log.debug({ config: config.toLogObject() }, 'configuration');
      const proxy = settings.proxy();
      if (proxy) log.info(describeProxies(proxy), 'proxy');
      else log.debug('no proxy: HTTP_PROXY and HTTPS_PROXY are unset');
      const workspace = await openWorkspace(settings);
      const run = await loadRunner(name);
      const outcome = await run({ settings, workspace, log, stop: shutdown });
      if (shutdown.stopped) return undefined; // the stop reports; the step's results may be incomplete
      const resultsDir = settings.resultsDir;
      for (const r of contract.results) {
        await workspace.writeResult(r.name, outcome.results[r.name] ?? '', resultsDir);
      }
      report(outcome.termination ?? JSON.stringify(outcome.results));
      process.stdout.write(JSON.stringify(outcome.results) + '\n');
      log.info({ ...outcome.summary, seconds: (Date.now() - started) / 1000 }, `${name} finished`);
      return EXIT.ok;
    } catch (caught) {
      // Aborted by a stop: the stop reports what it did, not the abort error of a transfer.
      if (shutdown.stopped) return undefined;
      // A full disk anywhere below (fetch, package, records, results) ends as one noSpace error.
      const err = volume ? await asNoSpace(caught, volume) : caught;
      const code = exitCodeOf(err);
      const cause = oneLine(redact(messageOf(err)));
      const message = err instanceof ModelSyncError ? cause : `unexpected error: ${cause}`;
      log.error({ exitCode: code, ...(err instanceof ModelSyncError ? {} : { err }) }, message);
      report(message);
      return code;
    }
  };
  try {
    return await Promise.race([work().then((code) => code ?? stopCodeKnown), stopCodeKnown]);
  } finally {
    process.off('beforeExit', unfinished);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

interface StopRequest {
  name: StepName;
  signal: NodeJS.Signals;
  shutdown: Shutdown;
  /** The setting's name comes with the settings; a stop before them has the default's length only. */
  grace: { seconds: number; setting?: string };
  started: number;
  log: () => Logger;
  report: (message: string) => void;
}

/**
 * After SIGTERM (or SIGINT): aborts what is in flight and settles what the step registered, then
 * reports and returns 128 + the signal's number (143), within the grace period. When that runs
 * out, it reports what is still not cleaned up and returns the same code.
 */
async function stopStep(req: StopRequest): Promise<number> {
  const { name, signal, shutdown, grace } = req;
  const code = signalExitCode(signal);
  req.log().warn({ signal, graceSeconds: grace.seconds }, `${signal} received: stopping ${name}`);
  const timedOut = Symbol('timed out');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    shutdown.stop(signal),
    new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), grace.seconds * 1000))),
  ]);
  clearTimeout(timer);
  const account = outcome === timedOut ? shutdown.account() : outcome;
  const seconds = Math.round((Date.now() - req.started) / 100) / 10;
  const parts = [...account.done];
  if (account.failed.length) parts.push(`could not clean up: ${account.failed.join('; ')}`);
  if (outcome === timedOut && account.pending.length) {
    parts.push(`not cleaned up within the grace period of ${grace.seconds} s${grace.setting ? ` (${grace.setting})` : ''}: ${account.pending.join('; ')}`);
  }
  if (!parts.length) parts.push('nothing to abort (records and files are written whole; a re-run starts from them)');
  const message = oneLine(redact(`${name} stopped by ${signal} after ${seconds} s: ${parts.join('; ')}`));
  req.log().warn({ exitCode: code, signal }, message);
  req.report(message);
  return code;
}

/** The workspace, or a configuration error naming the setting when the path cannot be one. */
async function openWorkspace(settings: StepSettings): Promise<Workspace> {
  try {
    return await new Workspace(settings.storagePath, settings.storagePathSetting).init();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code || !['ENOTDIR', 'EEXIST', 'EACCES', 'EPERM', 'EROFS', 'ENAMETOOLONG'].includes(code)) throw err;
    throw new ConfigError(`${settings.storagePathSetting}: ${settings.storagePath} cannot be the workspace (${code}): it must be a folder this user can write`);
  }
}

export function buildProgram(): Command {
  const program = new Command('model-sync')
    .description(
      'Move a machine-learning model from S3, HTTP(S), Hugging Face, OCI or a PVC into an OCI registry\n' +
        '(as a KServe modelcar) or S3, and register it in Kubeflow Model Registry.\n' +
        'Each step runs on its own (sharing --storage-path) or all together with `all`.',
    )
    .version(packageVersion())
    // Usage errors end like every configuration error: one line, exit 2, a termination message,
    // no help dump (the pod log stays readable). Set before the steps so they inherit it.
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    // the overview: the whole job, and one step on its own
    .addHelpText('after', examplesHelp([STEP_EXAMPLES.all[0], STEP_EXAMPLES.fetch[0]]));
  for (const contract of allSteps()) addStepCommand(program, contract);
  return program;
}

/** A commander failure (unknown option, missing value, unknown step) as the CLI reports it. */
function usageError(err: CommanderError, argv: string[]): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
  if (err.code === 'commander.help') return err.exitCode; // no step named: the overview was shown
  const step = argv.slice(2).find((a) => !a.startsWith('-'));
  const known = step && (STEP_NAMES as readonly string[]).includes(step);
  const hint = known ? `model-sync ${step} --help lists its settings` : `model-sync --help lists the steps`;
  const message = `${redact(err.message.replace(/^error:\s*/, ''))} (${hint})`;
  process.stderr.write(`model-sync: ${message}\n`);
  writeTerminationMessage(terminationMessagePath(), message);
  return EXIT.config;
}

const invokedDirectly = process.argv[1] && /cli\.(js|ts)$/.test(process.argv[1]);
if (invokedDirectly || process.argv[1]?.endsWith('model-sync')) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      if (err instanceof CommanderError) process.exit(usageError(err, process.argv));
      process.stderr.write(`model-sync: ${redact(messageOf(err))}\n`);
      process.exit(EXIT.internal);
    });
}
