// The etcdflow extension: starts `etcdflow lsp` for .flow/.etcdflow files, and shows
// `etcdflow explain CODE` when a diagnostic's code is clicked (etcdflow-explain: links).
const vscode = require("vscode");
const { execFile } = require("child_process");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const cfg = vscode.workspace.getConfiguration("etcdflow");
  const command = cfg.get("path") || "etcdflow";
  const server = { command, args: ["lsp"], transport: TransportKind.stdio };
  client = new LanguageClient(
    "etcdflow",
    "etcdflow",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "etcdflow" }],
      initializationOptions: { inventory: cfg.get("inventory") || [], extraVars: cfg.get("extraVars") || {} },
    }
  );
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider("etcdflow-explain", {
      provideTextDocumentContent(uri) {
        return new Promise((resolve) => {
          execFile(command, ["explain", uri.path], (err, stdout, stderr) => resolve(stdout || stderr || String(err)));
        });
      },
    })
  );
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
