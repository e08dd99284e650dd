// Runs the storage conformance suite against the in-memory reference driver.
import { createMemoryDriver } from "../../src/storage/index.ts";
import { storageConformance } from "./conformance.ts";

storageConformance("memory", () => createMemoryDriver());
