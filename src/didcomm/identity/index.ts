// Public API of the mediator identity: key generation, (de)serialisation, key file, DID minting.
export { generateIdentity, IDENTITY_VERSION, MediatorIdentity, parseIdentity, serializeIdentity } from "./identity.ts";
export { IdentityFileError, loadOrCreateIdentityFile, type IdentityFileProblem } from "./file.ts";
export { mintMediatorDid, type MintedDid } from "./mint.ts";
