// Loads the mediator identity from a 0600 file, creating it (and its directory) on first start.
import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DidcommError, DidcommErrorCode, isDidcommError } from "../errors.ts";
import { generateIdentity, MAX_IDENTITY_CHARS, parseIdentity, serializeIdentity, type MediatorIdentity } from "./identity.ts";

export type IdentityFileProblem = "insecure_permissions" | "malformed" | "not_a_file" | "io";

/** A DidcommError that also says what is wrong with the file (the path is included, keys never are). */
export class IdentityFileError extends DidcommError {
  readonly problem: IdentityFileProblem;
  constructor(problem: IdentityFileProblem, code: DidcommError["code"], message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.problem = problem;
  }
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined;
}

async function readExisting(path: string): Promise<MediatorIdentity> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    throw new IdentityFileError("io", DidcommErrorCode.KeyNotFound, `cannot stat identity file ${path}`, cause);
  }
  if (!info.isFile()) throw new IdentityFileError("not_a_file", DidcommErrorCode.KeyNotFound, `identity path ${path} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(3, "0");
    throw new IdentityFileError(
      "insecure_permissions",
      DidcommErrorCode.InvalidKey,
      `identity file ${path} has mode ${mode}; it must not be group/world accessible (chmod 600)`,
    );
  }
  if (info.size > MAX_IDENTITY_CHARS) throw new IdentityFileError("malformed", DidcommErrorCode.Malformed, `identity file ${path} is too large`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new IdentityFileError("io", DidcommErrorCode.KeyNotFound, `cannot read identity file ${path}`, cause);
  }
  try {
    return parseIdentity(text);
  } catch (cause) {
    const code = isDidcommError(cause) ? cause.code : DidcommErrorCode.Malformed;
    throw new IdentityFileError("malformed", code, `identity file ${path} is malformed`, cause);
  }
}

/**
 * Creates atomically: the key is written to a private temp file, then hard-linked into place, which fails
 * if another process created the file first (we then load theirs). A crash never leaves a half-written file.
 */
async function createNew(path: string): Promise<MediatorIdentity | undefined> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new IdentityFileError("io", DidcommErrorCode.KeyNotFound, `cannot create directory for identity file ${path}`, cause);
  }
  const identity = generateIdentity();
  const tmp = join(dir, `.identity-${randomBytes(8).toString("hex")}.tmp`);
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(serializeIdentity(identity), "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o600); // the umask cannot widen it, but be explicit
    await link(tmp, path);
    return identity;
  } catch (cause) {
    if (errnoOf(cause) === "EEXIST") return undefined;
    throw new IdentityFileError("io", DidcommErrorCode.KeyNotFound, `cannot write identity file ${path}`, cause);
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Loads the identity at `path`, or creates it (mode 0600, parent directory 0700) when missing. */
export async function loadOrCreateIdentityFile(path: string): Promise<MediatorIdentity> {
  try {
    await stat(path);
  } catch (e) {
    if (errnoOf(e) !== "ENOENT") throw new IdentityFileError("io", DidcommErrorCode.KeyNotFound, `cannot stat identity file ${path}`, e);
    const made = await createNew(path);
    if (made !== undefined) return made;
  }
  return readExisting(path);
}
