/**
 * A file-system error in words, for messages that name a file: `no such file (ENOENT)`,
 * `permission denied (EACCES)`; an error without a code gives its message.
 */
const WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
};

export function fileErrorWords(e: unknown, words: Readonly<Record<string, string>> = WORDS): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${words[err.code] ?? WORDS[err.code] ?? err.message} (${err.code})` : String(err.message ?? e);
}
