// The operator's view: on a terminal one line per log event (time, level, step, message, key=value),
// JSON lines when stderr is not a terminal, a progress line with percent, rate and ETA, and --help
// with the options in groups and two examples per step.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { terminalLineOptions } from '../src/log.js';
import { CLI, cleanEnv, runCli, tempDir } from '../dev/cli.js';
import { buildProgram, STEP_EXAMPLES } from '../src/cli.js';
import { resolveConfig } from '../src/config/config.js';
import { loadStep, STEP_NAMES } from '../src/contract/contract.js';
import { compactValue, formatEventLine, MAX_VALUE_CHARS } from '../src/util/event-line.js';
import { Progress } from '../src/util/progress.js';

const run = promisify(execFile);
/** A terminal line: HH:MM:SS, the level padded to five, then the step column. */
const EVENT_LINE = /^\d\d:\d\d:\d\d (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /;
const SECRET = 'op-view-secret-Zq81x';

let sourceDir = '';
let root = '';
before(async () => {
  root = await tempDir('ms-operator-view-');
  sourceDir = path.join(root, 'src');
  await mkdir(path.join(sourceDir, 'sub'), { recursive: true });
  await writeFile(path.join(sourceDir, 'config.json'), '{"a":1}');
  await writeFile(path.join(sourceDir, 'sub', 'weights.bin'), Buffer.alloc(64 * 1024, 7));
});

function fetchArgs(workspace: string): string[] {
  return ['fetch', '--storage-path', path.join(root, workspace), '--source-type', 'uri', '--source-uri', sourceDir, '--log-level', 'debug'];
}

function logLines(stderr: string): string[] {
  return stderr.split(/\r?\n/).filter((l) => l.trim() !== '');
}

describe('terminal log lines', () => {
  it('one line per event, the step once in its column, nested fields compact', async () => {
    const r = await runCli(fetchArgs('ws-pretty'), { MODEL_SYNC_LOG_FORMAT: 'pretty' });
    assert.equal(r.code, 0, r.stderr);
    const lines = logLines(r.stderr);
    assert.ok(lines.length >= 4, r.stderr);
    for (const line of lines) {
      assert.match(line, EVENT_LINE, `not one event per line: ${line}`);
      assert.doesNotMatch(line, /\bstep=|\bapp=|"level"|^\s*\{/, line);
      assert.equal(line.match(/\bfetch\b/g)?.[0], 'fetch');
    }
    assert.ok(lines.some((l) => /^\S+ INFO  fetch +fetch finished .*\bfiles=2\b/.test(l)), r.stderr);
    // the debug configuration event: a nested object, on its line and cut
    const config = lines.find((l) => / configuration config=\{/.test(l));
    assert.ok(config, r.stderr);
    assert.ok(config.endsWith('…'), config);
  });

  it('the terminal line is redacted like the JSON line', async () => {
    const script = [
      `import { createLogger } from ${JSON.stringify(path.join(path.dirname(CLI), 'log.js'))};`,
      `import { addSecret } from ${JSON.stringify(path.join(path.dirname(CLI), 'util/redact.js'))};`,
      `addSecret(${JSON.stringify(SECRET)});`,
      `createLogger({ format: 'pretty' }).child({ step: 'push' }).warn({ endpoint: 'https://h/?k=${SECRET}', auth: { password: 'pw-in-json' } }, 'retrying with ${SECRET}');`,
    ].join('\n');
    const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { env: cleanEnv() });
    const lines = logLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d WARN  push +retrying with \S+ endpoint=/);
    assert.doesNotMatch(stderr, new RegExp(`${SECRET}|pw-in-json`), stderr);
  });

  it('under a pseudo-terminal the default is the terminal line', { skip: existsSync('/usr/bin/script') ? false : 'script (util-linux) is not installed' }, async () => {
    const args = [process.execPath, CLI, ...fetchArgs('ws-pty')].map((a) => `'${a}'`).join(' ');
    const { stdout } = await run('script', ['-qec', args, '/dev/null'], { env: cleanEnv({ TERM: 'xterm' }), timeout: 30_000 });
    // eslint-disable-next-line no-control-regex
    const lines = logLines(stdout.replace(/\x1b\[[0-9;]*m/g, '')).filter((l) => !l.startsWith('{"model-files"'));
    assert.ok(lines.length >= 4, stdout);
    for (const line of lines) assert.match(line, EVENT_LINE, line);
  });

  it('not a terminal: JSON lines as before, with step and app', async () => {
    const r = await runCli(fetchArgs('ws-json'));
    assert.equal(r.code, 0, r.stderr);
    const events = logLines(r.stderr).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(events.length >= 4);
    const finished = events.find((e) => e.msg === 'fetch finished');
    assert.equal(finished?.step, 'fetch');
    assert.equal(finished?.app, 'model-sync');
    assert.equal(finished?.level, 'info');
  });

  it('a name field is a field, not a logger name before the time', () => {
    const format = prettyFactory(terminalLineOptions(false));
    const line = format(JSON.stringify({ level: 'info', time: '2026-12-02T10:42:07.000Z', app: 'model-sync', step: 'register', msg: 'ModelVersion created', name: '1.0.0' }));
    assert.match(line, /^\d\d:\d\d:\d\d INFO  register +ModelVersion created name=1\.0\.0\n$/);
  });

  it('formats values: words bare, other strings quoted, objects as cut JSON, messages on one line', () => {
    assert.equal(compactValue(12), '12');
    assert.equal(compactValue('s3://b/m'), 's3://b/m');
    assert.equal(compactValue('two words'), '"two words"');
    assert.equal(compactValue({ a: [1, 2] }), '{"a":[1,2]}');
    const long = compactValue({ list: 'x'.repeat(500) });
    assert.equal(long.length, MAX_VALUE_CHARS);
    const line = formatEventLine({ level: 'warn', time: '2026-12-02T10:42:07.000Z', step: 'all', part: 'push', msg: 'first\nsecond', n: 1 });
    assert.match(line, /^\d\d:\d\d:\d\d WARN  all\/push +first second n=1$/);
    const err = formatEventLine({ level: 'error', msg: 'unexpected', err: { type: 'TypeError', message: 'bad\nthing', stack: 'TypeError: bad\n  at x' } });
    assert.match(err, /err="TypeError: bad thing"$/);
  });
});

describe('progress line', () => {
  function capture(): { logger: pino.Logger; events: Array<Record<string, unknown>> } {
    const events: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) events.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    return { logger: pino(sink), events };
  }

  it('says percent, rate and ETA, and carries them as fields beside the old ones', () => {
    const { logger, events } = capture();
    let now = 1_000_000;
    const gib = 1024 ** 3;
    const done = Math.round(1.3 * gib);
    const progress = new Progress(logger, 'fetch s3://b/m', Math.round(3.1 * gib), 0, () => now);
    progress.add(done);
    now += 10_000; // 10 s: 139.6 MB/s, 1.8 GiB left
    progress.report();
    const e = events[0]!;
    assert.equal(e.msg, 'fetch s3://b/m: 41% 1.3 GiB of 3.1 GiB, 140 MB/s, ETA 14s');
    assert.equal(e.percent, 41.9);
    assert.equal(e.bytesPerSecond, Math.round(done / 10));
    assert.equal(e.etaSeconds, 14);
    assert.equal(e.rateMBps, 139.6);
    assert.equal(e.bytesDone, done);
    assert.equal(e.progress, 'fetch s3://b/m');
  });

  it('without a known total: bytes and rate, no percent or ETA', () => {
    const { logger, events } = capture();
    let now = 0;
    const progress = new Progress(logger, 'fetch https://h/a.tar', 0, 0, () => now);
    progress.add(5_000_000);
    now += 2_000;
    progress.report();
    assert.equal(events[0]!.msg, 'fetch https://h/a.tar: 4.8 MiB, 2.5 MB/s');
    assert.equal(events[0]!.percent, null);
    assert.equal(events[0]!.etaSeconds, null);
  });

  it('on the terminal a progress line is its message alone', () => {
    const line = formatEventLine({ level: 'info', step: 'fetch', msg: 'fetch s3://b/m: 41% …', progress: 'fetch s3://b/m', percent: 41, etaSeconds: 9 });
    assert.match(line, / fetch +fetch s3:\/\/b\/m: 41% …$/);
  });
});

describe('--help', () => {
  it('groups the options and ends with two examples', async () => {
    const r = await runCli(['fetch', '--help']);
    assert.equal(r.code, 0, r.stderr);
    const headings = r.stdout.split('\n').filter((l) => /^[A-Z][\w ]*:$/.test(l));
    assert.deepEqual(headings, ['Source:', 'Tuning:', 'Logging:', 'General:', 'Options:']);
    const source = r.stdout.slice(r.stdout.indexOf('Source:'), r.stdout.indexOf('Tuning:'));
    assert.match(source, /--source-aws-bucket/);
    assert.doesNotMatch(source, /--log-level|--storage-path/);
    const tail = r.stdout.slice(r.stdout.lastIndexOf('Examples'));
    assert.equal(tail.match(/^ {2}model-sync fetch /gm)?.length, 2, tail);
    assert.ok(r.stdout.trimEnd().endsWith(tail.trimEnd()));
  });

  it('the overview ends with two examples too', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    const tail = r.stdout.slice(r.stdout.lastIndexOf('Examples'));
    assert.equal(tail.match(/^ {2}model-sync (all|fetch) /gm)?.length, 2, r.stdout);
  });

  it('every step has two examples that are complete, valid settings of that step', () => {
    for (const step of STEP_NAMES) {
      const examples = STEP_EXAMPLES[step];
      assert.equal(examples.length, 2);
      for (const example of examples) {
        assert.ok(example.startsWith(`model-sync ${step} `), example);
        // parsed by the step's own command, then resolved as a run would: unknown flags, bad values
        // and missing required settings all fail here
        const cmd = buildProgram().commands.find((c) => c.name() === step)!;
        const words = (example.match(/"[^"]*"|\S+/g) ?? []).slice(2).map((w) => w.replace(/^"|"$/g, ''));
        assert.deepEqual(cmd.parseOptions(words).unknown, [], example);
        assert.doesNotThrow(() => resolveConfig({ step: loadStep(step), flags: cmd.opts(), env: {} }), example);
      }
    }
  });

  it('an incomplete command line does fail that check', () => {
    const cmd = buildProgram().commands.find((c) => c.name() === 'register')!;
    cmd.parseOptions(['--storage-path', '/data']);
    assert.throws(() => resolveConfig({ step: loadStep('register'), flags: cmd.opts(), env: {} }), /required/);
  });
});
