#!/usr/bin/env node
// Validate glTF 2.0 files with the Khronos glTF validator (npm package gltf-validator, installed by
// scripts/setup.sh into .tools/node_modules).
//
//   node scripts/validate_gltf.js FILE.glb [...]
//
// Prints one JSON report per file on stdout ({file, numErrors, numWarnings, numInfos, messages: first 20});
// exits 1 when any file has errors, 2 when the validator is not installed or a file cannot be read.
'use strict';
const fs = require('fs');
const path = require('path');

let validator;
try {
    const tools = path.join(__dirname, '..', '.tools');
    validator = require(require.resolve('gltf-validator', { paths: [tools] }));
} catch (err) {
    console.error('gltf-validator is not installed: run `bash scripts/setup.sh` (it needs npm)');
    process.exit(2);
}

async function main(files) {
    let failed = false;
    for (const file of files) {
        let data;
        try {
            data = fs.readFileSync(file);
        } catch (err) {
            console.error(`cannot read ${file}: ${err.message}`);
            process.exit(2);
        }
        const report = await validator.validateBytes(new Uint8Array(data), { maxIssues: 1000 });
        const issues = report.issues;
        console.log(JSON.stringify({
            file,
            validatorVersion: report.validatorVersion,
            numErrors: issues.numErrors,
            numWarnings: issues.numWarnings,
            numInfos: issues.numInfos,
            numHints: issues.numHints,
            messages: issues.messages.slice(0, 20),
        }));
        if (issues.numErrors > 0) failed = true;
    }
    process.exit(failed ? 1 : 0);
}

if (process.argv.length < 3) {
    console.error('usage: node scripts/validate_gltf.js FILE.glb [...]');
    process.exit(2);
}
main(process.argv.slice(2)).catch((err) => {
    console.error(String(err && err.stack || err));
    process.exit(2);
});
