// Copies the stylesheet next to the bundle (anywidget loads it as the widget's _css).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, "../../facewidget/static");
mkdirSync(out, { recursive: true });
copyFileSync(resolve(here, "../src/widget.css"), resolve(out, "widget.css"));
