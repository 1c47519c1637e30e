"""The CLI's commands, one module each. Modules import only typer and the standard library at
module level: heavy imports (grafanalib, requests, jsonschema) happen inside the command."""
