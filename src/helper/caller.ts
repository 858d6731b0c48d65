// Who is asking the helper. sudo sets SUDO_USER/SUDO_UID/SUDO_GID and resets the rest of the
// environment, so an unprivileged caller cannot claim another name; root can, and may anyway.

import { readFileSync } from 'node:fs';
import { ROOT, type Caller } from './policy.js';

/** Group names of a user: its primary group (/etc/passwd) and those listing it (/etc/group). */
function groupsOf(user: string, gid: number | null): string[] {
  const out = new Set<string>();
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , id, members] = line.split(':');
      if (!name) continue;
      if ((gid !== null && Number(id) === gid) || (members ?? '').split(',').includes(user)) out.add(name);
    }
  } catch {
    // no /etc/group: the user's name alone
  }
  return [...out];
}

/** Who asked: sudo's SUDO_USER/SUDO_UID when sudo started us, else root itself. */
export function callerOf(env: NodeJS.ProcessEnv): { caller: Caller; via: string } {
  const ssh = env.SSH_CLIENT ? ` ssh:${env.SSH_CLIENT.split(' ')[0]}` : '';
  const uid = Number(env.SUDO_UID);
  if (env.SUDO_USER && Number.isInteger(uid) && uid > 0) {
    const gid = Number(env.SUDO_GID);
    return { caller: { user: env.SUDO_USER, uid, groups: groupsOf(env.SUDO_USER, Number.isInteger(gid) ? gid : null) }, via: `sudo${ssh}` };
  }
  return { caller: ROOT, via: `root${ssh}` };
}
