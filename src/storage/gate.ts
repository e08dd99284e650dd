// Open/closed flag shared by a driver's stores: calls after close() reject with StorageError `closed`.
import { StorageError, StorageErrorCode } from "./errors.ts";

export class Gate {
  closed = false;

  check(): void {
    if (this.closed) throw new StorageError(StorageErrorCode.Closed, "storage driver is closed");
  }
}
