// Parse and analyze KQL queries with Microsoft's own Kusto language service (the parser behind
// Azure Data Explorer and Log Analytics editors), against a schema the caller gives.
// stdin: {"tables": {"requests": {"timestamp": "datetime", ...}}, "queries": ["requests | ..."]}
// stdout: [["Error: ... @17", ...], ...]  (one list of diagnostics per query; empty means valid)
"use strict";
require("@kusto/language-service-next/bridge.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.js");

const K = Kusto.Language;
const S = K.Symbols;
const TYPES = {
  bool: S.ScalarTypes.Bool, datetime: S.ScalarTypes.DateTime, dynamic: S.ScalarTypes.Dynamic,
  int: S.ScalarTypes.Int, long: S.ScalarTypes.Long, real: S.ScalarTypes.Real,
  string: S.ScalarTypes.String, timespan: S.ScalarTypes.TimeSpan,
};

let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const tables = Object.entries(request.tables).map(([name, columns]) =>
    new S.TableSymbol.$ctor4(name, Object.entries(columns).map(([column, type]) => {
      if (!(type in TYPES)) throw new Error(`unknown column type ${type}`);
      return new S.ColumnSymbol(column, TYPES[type]);
    })));
  const globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor("logs", tables));
  const results = request.queries.map((query) => {
    const diagnostics = K.KustoCode.ParseAndAnalyze(query, globals).GetDiagnostics();
    const found = [];
    for (let i = 0; i < diagnostics.Count; i++) {
      const d = diagnostics.getItem(i);
      found.push(`${d.Severity}: ${d.Message} @${d.Start}`);
    }
    return found;
  });
  process.stdout.write(JSON.stringify(results));
});
