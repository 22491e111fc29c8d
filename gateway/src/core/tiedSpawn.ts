// The one way the gateway starts a child process: tied to it, so the child dies when the gateway
// dies, even by SIGKILL. Node cannot set PR_SET_PDEATHSIG, so util-linux's setpriv sets it and execs
// a one-line shell that execs the command: the child keeps the pid spawn() returned and no process
// is left between. mediasoup spawns its workers itself; they exit when their channel pipes close.
import {
  type ChildProcess,
  type ExecFileException,
  type ExecFileOptions,
  execFile,
  type SpawnOptions,
  spawn,
} from 'node:child_process';

const SETPRIV = '/usr/bin/setpriv';
// A gateway that died before setpriv set the signal left the child to init: then it must not run.
const PARENT_CHECK = '[ "$PPID" = "$1" ] || exit 1; shift; exec "$@"';

/** The command line that runs `file args` as a child that dies with this process. */
export function tiedCommand(file: string, args: readonly string[]): [string, string[]] {
  const shell = ['/bin/sh', '-c', PARENT_CHECK, 'tied', String(process.pid)];
  return [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', ...shell, file, ...args]];
}

/** spawn(), tied to the gateway. */
export function tiedSpawn(file: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn(...tiedCommand(file, args), options);
}

/** execFile() with text output, tied to the gateway. */
export function tiedExecFile(
  file: string,
  args: readonly string[],
  options: Omit<ExecFileOptions, 'encoding'>,
  callback: (err: ExecFileException | null, stdout: string, stderr: string) => void,
): ChildProcess {
  return execFile(...tiedCommand(file, args), { ...options, encoding: 'utf8' }, callback);
}
