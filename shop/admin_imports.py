"""Admin for import jobs: upload a file, an import task runs the same service as the command."""
