// Public API of the encoding helpers: strict base64url/base64, UTF-8 and JSON-object parsing with typed errors.
export {
  b64Decode,
  b64uDecode,
  b64uDecodeJson,
  b64uEncode,
  b64uEncodeJson,
  concatBytes,
  parseJsonObject,
  utf8Decode,
  utf8Encode,
} from "./base64url.ts";
