/**
 * Prints an overlay rendered by deploy/kustomize.ts as multi-document YAML (what `kubectl kustomize`
 * prints): `node --import tsx deploy/render.ts cpu|gpu`.
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { REPO_ROOT, renderKustomization } from "./kustomize.js";

const overlay = process.argv[2];
if (!overlay) {
  process.stderr.write("usage: render.ts <overlay: cpu|gpu>\n");
  process.exit(2);
}
const objects = renderKustomization(join(REPO_ROOT, "k8s", "overlays", overlay));
process.stdout.write(objects.map((o) => stringify(o)).join("---\n"));
