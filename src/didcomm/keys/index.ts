// Public API of key handling: JWK shapes and checks, native key generation, multikey (multibase) conversion.
export { CURVES, isAgreementCurve, publicPart, toPrivateJwk, toPublicJwk, type Curve, type KeyRef, type PrivateJwk, type PublicJwk } from "./jwk.ts";
export { generateJwk } from "./generate.ts";
export { ed25519ToX25519, jwkToMultikey, multibaseToJwk, multikeyToJwk, rawToJwk } from "./multikey.ts";
