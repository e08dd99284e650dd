// Public surface of the admin API.
export { createAdminHandler, type AdminHandler, type AdminHandlerOptions } from "./handler.ts";
export { checkBearer, type AuthResult } from "./auth.ts";
export { MAX_ADMIN_BODY_BYTES } from "./http.ts";
export { webhookJson, deadLetterJson, type BreakerStatusSource } from "./routes.ts";
