#!/usr/bin/env bash
# Builds editors/vscode/etcdflow-VERSION.vsix with vsce (npm registry), after checking the
# TextMate grammar on the stdlib flows. Needs node >= 18 and npm.
set -euo pipefail
cd "$(dirname "$0")"
python3 test/tokenize.py syntaxes/etcdflow.tmLanguage.json ../../stdlib/*.flow
npm install --no-audit --no-fund
npx --yes @vscode/vsce package --allow-missing-repository --skip-license
ls -l ./*.vsix
