// The console's one chart bundle: Vega, Vega-Lite, vega-embed and the CSP-safe expression
// interpreter (no eval, no new Function), exposed as window.supportesCharts.
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import vegaEmbed from "vega-embed";
import { expressionInterpreter } from "vega-interpreter";

window.supportesCharts = { vega, vegaLite, vegaEmbed, expressionInterpreter };
