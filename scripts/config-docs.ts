// Prints the README's configuration table (Markdown), generated from the config schema in src/config/vars.ts.
import { renderConfigDocs } from "../src/config/docs.ts";

process.stdout.write(renderConfigDocs());
