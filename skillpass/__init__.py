"""Developer and operator tooling: the embedded database, bootstrap, the local runner, the CLI."""
